# The data of `tools/run_demo.py --budget tiny`, shared by its teacher and its student: 4 training
# and 2 test images of 192 px, enough to check that every stage runs.
tiny_dataset = dict(
    data_root='data/synthetic_demo_tiny',
    synth_cfg=dict(num_train=4, num_test=2, img_size=192, seed=0, workers=1))
