# DLD with gamma = 0.3 on Total-Text with MANGO (paper Table 8).
_base_ = ['./dld_mango_r50_totaltext.py']

model = dict(drs_loss=dict(gamma=0.3))
