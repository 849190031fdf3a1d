from .dld_distiller import DLDDistiller
from .grouping import group_by_index, instance_indices, merge_group_losses
from .scale_costs import ScaleCosts, ScaleCostTable, measure_costs
from .scale_pass import FoldedFeatureExtractor, ScalePassProbe
from .teacher import (FrozenTeacher, build_teacher, check_teacher_for_training,
                      load_teacher_checkpoint)

__all__ = [
    'DLDDistiller', 'FoldedFeatureExtractor', 'FrozenTeacher', 'ScaleCostTable', 'ScaleCosts',
    'ScalePassProbe', 'build_teacher', 'check_teacher_for_training', 'group_by_index',
    'instance_indices', 'load_teacher_checkpoint', 'measure_costs', 'merge_group_losses'
]
