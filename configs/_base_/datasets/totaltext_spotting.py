# Total-Text (curved words): data/totaltext/textspotting_{train,test}.json and
# textdet_imgs/{train,test}/. Results lexicon-free ("None") and with the full lexicon ("Full"),
# lexicons/full.txt (a word per line).
_base_ = ['./spotting_pipelines.py']

totaltext_data_root = 'data/totaltext'
# The teacher's resolution S-896 (paper §4.1).
totaltext_scale = (4 * 896, 896)
train_dataloader = dict(dataset=dict(data_root=totaltext_data_root, pipeline=[
    dict(t, scale=totaltext_scale) if t['type'].endswith('Resize') else t
    for t in _base_.train_pipeline]))
val_dataloader = test_dataloader = dict(dataset=dict(data_root=totaltext_data_root, pipeline=[
    dict(t, scale=totaltext_scale) if t['type'].endswith('Resize') else t
    for t in _base_.test_pipeline]))
val_evaluator = test_evaluator = dict(
    data_root=totaltext_data_root, lexicons=dict(_delete_=True, full='lexicons/full.txt'))
