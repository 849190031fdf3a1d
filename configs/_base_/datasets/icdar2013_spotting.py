# ICDAR 2013 focused text (horizontal words): data/icdar2013/textspotting_{train,test}.json and
# textdet_imgs/{train,test}/, with the strong (per image), weak and generic lexicons in lexicons/.
_base_ = ['./spotting_pipelines.py']

icdar2013_data_root = 'data/icdar2013'
# The teacher's resolution S-768 (paper §4.1).
icdar2013_scale = (4 * 768, 768)
train_dataloader = dict(dataset=dict(data_root=icdar2013_data_root, pipeline=[
    dict(t, scale=icdar2013_scale) if t['type'].endswith('Resize') else t
    for t in _base_.train_pipeline]))
val_dataloader = test_dataloader = dict(dataset=dict(data_root=icdar2013_data_root, pipeline=[
    dict(t, scale=icdar2013_scale) if t['type'].endswith('Resize') else t
    for t in _base_.test_pipeline]))
val_evaluator = test_evaluator = dict(data_root=icdar2013_data_root)
