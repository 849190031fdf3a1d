# SKD-only on Total-Text (paper Table 1): the student always runs at half the teacher's
# resolution (S-448), distilled with SKD; no DRS, no k-scale passes, no Gumbel hook.
_base_ = ['./dld_r50_totaltext.py']

model = dict(selector=None, fixed_scale=0.5)
custom_hooks = []
