# DRS-only on the synthetic data: scales chosen by the DRS (gamma = 0.1), no SKD losses.
_base_ = ['./dld_r18_synthetic_small.py']

model = dict(skd_loss=dict(loss_weight=0.0))
