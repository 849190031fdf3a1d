# The dynamic-resolution benchmark, shared by its teacher and its students (docs/synthetic_data.md,
# "The dynamic benchmark"): the demo's easy text on 512 px images, half of them holding only large
# words that stay readable at a third of the resolution and a third of them mixing large and small
# words that need all of it, and 1,500 test images, enough for a 95% interval of about +-1 point
# on E2E hmean (docs/evaluation.md, "How many test images").
dynamic_base_size = 512
dynamic_dataset = dict(
    data_root='data/synthetic_dynamic',
    synth_cfg=dict(
        num_train=3000, num_test=1500, img_size=dynamic_base_size, seed=0,
        regime_probs=dict(large=0.50, mixed=0.30, small=0.15, empty=0.05),
        words_per_image=dict(large=(4, 10), mixed=(10, 18)),
        vocab_size=50, text_mix='lowercase_words',
        shape_probs=dict(horizontal=0.8, rotated=0.1, curved=0.1)))
