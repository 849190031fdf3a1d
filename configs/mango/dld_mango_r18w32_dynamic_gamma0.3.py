# DLD with gamma = 0.3 of the MANGO dynamic-benchmark teacher: a cheaper trade-off.
_base_ = ['./dld_mango_r18w32_dynamic.py']

model = dict(drs_loss=dict(gamma=0.3))
