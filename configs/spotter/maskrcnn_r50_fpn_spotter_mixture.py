# The teacher of the paper (§4.1): the Mask R-CNN spotter fine-tuned on the MLT-2017 / IC13 /
# IC15 / Total-Text mixture. Pre-training on SynthText is a separate run of the same model;
# point `load_from` at its checkpoint.
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_spotter.py',
    '../_base_/datasets/teacher_mixture_spotting.py',
    '../_base_/schedules/schedule_adamw_50e.py',
    '../_base_/default_runtime.py',
]
