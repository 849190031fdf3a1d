"""The TensorBoard example config: the tiny spotter plus MMEngine's TensorboardVisBackend.

It loads without TensorBoard installed (the backend imports it only when it first writes);
writing events needs the optional extra (``pip install -e .[tensorboard]``).
"""
import os.path as osp

from helpers import CONFIG_DIR
from mmengine.config import Config

EXAMPLE = osp.join(CONFIG_DIR, 'examples', 'spotter_r18_fpn_synthetic_tiny_tensorboard.py')
TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')


def test_it_is_the_tiny_spotter_with_a_tensorboard_backend():
    example, tiny = Config.fromfile(EXAMPLE).to_dict(), Config.fromfile(TINY).to_dict()
    backends = [b['type'] for b in example['visualizer']['vis_backends']]
    assert backends == ['LocalVisBackend', 'TensorboardVisBackend']
    assert example['vis_backends'] == example['visualizer']['vis_backends']
    assert example['visualizer']['type'] == tiny['visualizer']['type']
    for cfg in (example, tiny):
        cfg.pop('vis_backends')
        cfg['visualizer'].pop('vis_backends')
    assert example == tiny

