# Vanilla multi-scale baseline (paper Tables 1 and 8): the multi-scale trained teacher of
# configs/spotter/maskrcnn_r50_fpn_spotter_totaltext.py tested at a fixed S-768.
#   mim test mmdld configs/dld/vanilla_r50_totaltext_s768.py --checkpoint TEACHER.pth
_base_ = ['../spotter/maskrcnn_r50_fpn_spotter_totaltext.py']

vanilla_test_pipeline = [
    dict(t, scale=(4 * 768, 768)) if t['type'] == 'mmocr.Resize' else t
    for t in _base_.totaltext_test_pipeline
]
val_dataloader = dict(dataset=dict(pipeline=vanilla_test_pipeline))
test_dataloader = val_dataloader
