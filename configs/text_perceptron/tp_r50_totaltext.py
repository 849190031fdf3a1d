# Text Perceptron teacher on Total-Text at S-896 (paper Table 8): ResNet-50 + FPN (ImageNet
# init), the Text Perceptron head on the stride-4 level, 8 x 32 STM crops at 14 fiducial points,
# the paper's BiLSTM-attention recogniser; the data, pipelines (paper §4.1) and schedule (AdamW
# 1e-3, 50 epochs) of configs/spotter/maskrcnn_r50_fpn_spotter_totaltext.py.
#   mim train mmdld configs/text_perceptron/tp_r50_totaltext.py
_base_ = ['../spotter/maskrcnn_r50_fpn_spotter_totaltext.py']

tp_points_per_side = 7
model = dict(
    _delete_=True,
    type='TextPerceptronSpotter',
    data_preprocessor=_base_.model.data_preprocessor,
    backbone=_base_.model.backbone,
    neck=dict(_base_.model.neck, num_outs=4),
    det_head=dict(
        type='TextPerceptronHead', in_channels=256, feat_channels=256, num_convs=2,
        num_points_per_side=tp_points_per_side),
    shape_transform=dict(
        type='ShapeTransformModule', output_size=(8, 32),
        num_points_per_side=tp_points_per_side, spatial_scale=0.25),
    rec_head=_base_.model.roi_head.rec_head,
    featmap_stride=4,
    test_cfg=dict(score_thr=0.0, rec_on_gt=False))
