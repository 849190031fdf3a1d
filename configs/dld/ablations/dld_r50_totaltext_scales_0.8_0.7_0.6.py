# Paper Table 5: DLD (gamma = 0.1) on Total-Text with the candidate scales {0.8, 0.7, 0.6}.
_base_ = ['../dld_r50_totaltext.py']

model = dict(selector=dict(scales=(0.8, 0.7, 0.6)))
