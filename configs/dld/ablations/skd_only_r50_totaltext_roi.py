# Paper Table 2: SKD-only (S-448) on Total-Text with L_roi alone (eta1 = eta2 = 0; no teacher
# beam search).
_base_ = ['../skd_only_r50_totaltext.py']

model = dict(skd_loss=dict(eta1=0.0, eta2=0.0))
