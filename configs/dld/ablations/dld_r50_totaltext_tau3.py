# Paper Table 7: DLD (gamma = 0.1) on Total-Text with tau_init = 3, the Gumbel-softmax
# temperature of the first epoch (tau = tau_init * 0.965 ** epoch).
_base_ = ['../dld_r50_totaltext.py']

model = dict(selector=dict(temperature=3.0))
custom_hooks = [dict(_base_.dld_gumbel_hook, tau_init=3.0)]
