# The data of the reproduction (tools/reproduce.py --budget full), shared by its teacher and its
# students: 3,000 training and 200 test images of 320 px with the benchmark's text, not the demo's
# easier one (docs/synthetic_data.md).
reproduce_dataset = dict(
    data_root='data/synthetic_reproduce',
    synth_cfg=dict(
        num_train=3000, num_test=200, img_size=320, seed=0,
        regime_probs=dict(large=0.45, mixed=0.30, small=0.20, empty=0.05),
        vocab_size=None, text_mix='scene', shape_probs=None, words_per_image=None))
