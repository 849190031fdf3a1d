# Paper Table 2: SKD-only (S-448) on Total-Text with L_seq alone: L_roi, unweighted in eq. 10,
# is switched off by its own loss weight, and eta1 = 0.
_base_ = ['../skd_only_r50_totaltext.py']

model = dict(
    skd_loss=dict(roi_loss=dict(type='RoIFeatureDistillLoss', loss_weight=0.0), eta1=0.0))
