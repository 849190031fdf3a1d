from .dld_distiller import DLDDistiller
from .grouping import group_by_index, instance_indices, merge_group_losses
from .scale_costs import ScaleCosts, measure_costs
from .teacher import build_teacher, load_teacher_checkpoint

__all__ = [
    'DLDDistiller', 'group_by_index', 'instance_indices', 'merge_group_losses', 'ScaleCosts',
    'measure_costs', 'build_teacher', 'load_teacher_checkpoint'
]
