"""The "new spotter" example configs build and run: a component swapped, nothing else."""
import torch
from helpers import REPO_ROOT
from mmdet.models.backbones import MobileNetV2
from mmdet.structures import DetDataSample
from mmengine.config import Config

from mmdld.registry import MODELS


def _sample(h, w):
    return DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                       scale_factor=(1.0, 1.0), batch_input_shape=(h, w),
                                       img_path='x.jpg'))


def test_mobilenetv2_spotter_and_its_dld(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the DLD config names its teacher config relative to the repo
    torch.manual_seed(0)
    spotter_cfg = Config.fromfile('configs/examples/spotter_mobilenetv2_fpn_synthetic.py')
    ours = Config.fromfile('configs/demo/spotter_r18w32_demo.py')
    # Only the backbone and the FPN's inputs differ from the config it inherits.
    assert {k for k in ours.model if ours.model[k] != spotter_cfg.model[k]} == {
        'backbone', 'neck'}
    spotter = MODELS.build(spotter_cfg.model).eval()
    assert isinstance(spotter.backbone, MobileNetV2)
    feats = spotter.extract_feat(torch.rand(1, 3, 128, 160))
    assert [tuple(f.shape[-2:]) for f in feats][:4] == [(32, 40), (16, 20), (8, 10), (4, 5)]
    assert all(f.shape[1] == 64 for f in feats)

    dld_cfg = Config.fromfile('configs/examples/dld_mobilenetv2_fpn_synthetic.py').model
    # Given costs: no FLOPs measurement on the first batch (it traces every scale).
    dld_cfg.update(scale_costs=[0.64, 0.49, 0.36, 0.25, 0.16, 0.09],
                   scale_gflops=[0.8, 0.7, 0.6, 0.5, 0.4, 0.3], selector_gflops=0.05)
    dld = MODELS.build(dld_cfg).eval()
    assert isinstance(dld.student.backbone, MobileNetV2)
    assert isinstance(dld.teacher.backbone, MobileNetV2)
    # The student starts from the teacher's weights.
    for (name, p), (_, q) in zip(dld.student.state_dict().items(),
                                 dld.teacher.state_dict().items()):
        assert torch.equal(p, q), name
    with torch.no_grad():
        data = dld.data_preprocessor(
            dict(inputs=[torch.randint(0, 255, (3, 128, 160), dtype=torch.uint8)],
                 data_samples=[_sample(128, 160)]), False)
        (result, ) = dld.predict(data['inputs'], data['data_samples'])
    scale = result.metainfo['dld_scale']
    assert scale in (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
    assert result.metainfo['dld_gflops'] == scale + 0.05
    assert len(result.pred_instances.texts) == len(result.pred_instances.scores)
