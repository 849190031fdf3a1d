# Paper Table 6: DLD on Total-Text with gamma = 0.5 (accuracy / cost trade-off of L_DRS, eq. 4).
_base_ = ['../dld_r50_totaltext.py']

model = dict(drs_loss=dict(gamma=0.5))
