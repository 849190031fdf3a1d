# SKD-only on the synthetic data: the small student always at half the teacher's resolution
# (S-160), distilled with SKD; no DRS and no Gumbel hook.
_base_ = ['./dld_r18_synthetic_small.py']

model = dict(selector=None, fixed_scale=0.5)
custom_hooks = []
