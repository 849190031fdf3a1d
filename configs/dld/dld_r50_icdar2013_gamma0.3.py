# DLD with gamma = 0.3 on ICDAR 2013 (paper Table 1): a cheaper trade-off than gamma = 0.1.
_base_ = ['./dld_r50_icdar2013.py']

model = dict(drs_loss=dict(gamma=0.3))
