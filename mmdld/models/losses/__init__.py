from .cost_budget_dual import CostBudgetDual
from .drs_loss import AccuracyInputs, DRSAccuracyLoss, DRSFlopsLoss, DRSLoss
from .logits_distill_loss import LogitsDistillLoss
from .roi_align_module import RoIAlignModule
from .skd_loss import (ContextDistillLoss, RoIFeatureDistillLoss, SequenceDistillLoss,
                       SKDLoss)

__all__ = [
    'AccuracyInputs', 'CostBudgetDual', 'DRSAccuracyLoss', 'DRSFlopsLoss', 'DRSLoss',
    'RoIFeatureDistillLoss', 'ContextDistillLoss', 'SequenceDistillLoss', 'LogitsDistillLoss',
    'SKDLoss', 'RoIAlignModule'
]
