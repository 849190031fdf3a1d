# Paper Table 3, "SKD replaced Logits": SKD-only (S-448) on Total-Text with L_seq replaced by
# the logit distillation of Bhunia et al., KL(teacher || student) of the per-step character
# distributions teacher-forced on the GT (LogitsDistillLoss); L_roi and L_con as in SKD.
_base_ = ['../skd_only_r50_totaltext.py']

model = dict(skd_loss=dict(seq_loss=dict(_delete_=True, type='LogitsDistillLoss')))
