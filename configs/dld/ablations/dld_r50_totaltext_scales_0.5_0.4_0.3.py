# Paper Table 5: DLD (gamma = 0.1) on Total-Text with the candidate scales {0.5, 0.4, 0.3}.
_base_ = ['../dld_r50_totaltext.py']

model = dict(selector=dict(scales=(0.5, 0.4, 0.3)))
