# ICDAR 2015 incidental text (oriented words): data/icdar2015/textspotting_{train,test}.json and
# textdet_imgs/{train,test}/, with the strong (per image), weak and generic lexicons in lexicons/.
_base_ = ['./spotting_pipelines.py']

icdar2015_data_root = 'data/icdar2015'
# The teacher's resolution S-1280 (paper §4.1).
icdar2015_scale = (4 * 1280, 1280)
train_dataloader = dict(dataset=dict(data_root=icdar2015_data_root, pipeline=[
    dict(t, scale=icdar2015_scale) if t['type'].endswith('Resize') else t
    for t in _base_.train_pipeline]))
val_dataloader = test_dataloader = dict(dataset=dict(data_root=icdar2015_data_root, pipeline=[
    dict(t, scale=icdar2015_scale) if t['type'].endswith('Resize') else t
    for t in _base_.test_pipeline]))
val_evaluator = test_evaluator = dict(data_root=icdar2015_data_root)
