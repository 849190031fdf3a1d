# Paper Table 4: the Total-Text spotter of configs/spotter/maskrcnn_r50_fpn_spotter_totaltext.py
# with 16 x 64 recognition RoI features (F_roi) instead of 8 x 32. Trained and tested (S-896) as
# that spotter, it is the "Vanilla Multi-Scale, H, (16x64)" row and the teacher of both 16 x 64
# DLD rows:
#   mim train mmdld configs/dld/ablations/maskrcnn_r50_fpn_spotter_totaltext_roi16x64.py
_base_ = ['../../spotter/maskrcnn_r50_fpn_spotter_totaltext.py']

# RoI-Masking samples on a grid twice the output size, as the 8 x 32 spotter does (16 x 64).
table4_roi16x64_extractor = dict(
    roi_layer=dict(type='RoIAlign', output_size=(32, 128), sampling_ratio=0, aligned=True),
    output_size=(16, 64))
model = dict(
    roi_head=dict(
        rec_roi_extractor=table4_roi16x64_extractor, rec_head=dict(roi_size=(16, 64))))
