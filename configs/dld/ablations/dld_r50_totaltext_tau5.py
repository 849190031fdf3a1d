# Paper Table 7: tau_init = 5, the paper's default: the default DLD config.
_base_ = ['../dld_r50_totaltext.py']
