# DRS-only (gamma = 0.1) on ICDAR 2013 (paper Table 1): the DRS picks the scale, the student is
# trained with its detection and recognition losses only (SKD weight lambda_3 = 0).
_base_ = ['./dld_r50_icdar2013.py']

model = dict(drs_loss=dict(gamma=0.1), skd_loss=dict(loss_weight=0.0))
