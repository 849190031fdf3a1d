# TensorBoard logging: the tiny synthetic spotter with MMEngine's TensorboardVisBackend beside
# the local one, so scalars (losses, learning rate, metrics) and the visualisation hook's
# pictures also go to <work_dir>/<timestamp>/vis_data/ as TensorBoard event files.
#
#   pip install -e .[tensorboard]      # the optional extra: TensorBoard is not a requirement
#   python tools/train.py configs/examples/spotter_r18_fpn_synthetic_tiny_tensorboard.py
#   tensorboard --logdir work_dirs/spotter_r18_fpn_synthetic_tiny_tensorboard
#
# Any other config gets the same with one line at the end of it (or `--cfg-options`):
#   visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
#                                   dict(type='TensorboardVisBackend')])
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_tiny.py']

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(vis_backends=vis_backends)
