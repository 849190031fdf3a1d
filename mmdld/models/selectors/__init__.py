from .budget_offset import (BudgetCalibration, calibrate_offset, choose_with_offset,
                            offset_logits)
from .dynamic_resolution_selector import DynamicResolutionSelector

__all__ = [
    'DynamicResolutionSelector', 'BudgetCalibration', 'calibrate_offset', 'choose_with_offset',
    'offset_logits'
]
