# SKD-only on ICDAR 2013 (paper Table 1): the student always runs at half the teacher's
# resolution (S-384), distilled with SKD; no DRS, no k-scale passes, no Gumbel hook.
_base_ = ['./dld_r50_icdar2013.py']

model = dict(selector=None, fixed_scale=0.5)
custom_hooks = []
