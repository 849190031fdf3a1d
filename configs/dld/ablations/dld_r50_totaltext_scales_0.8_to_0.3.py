# Paper Table 5: all six candidates {0.8, 0.7, 0.6, 0.5, 0.4, 0.3}, the default DLD config.
_base_ = ['../dld_r50_totaltext.py']
