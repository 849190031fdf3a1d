"""The per-scale cost tables a DRS budget can be given in: ``T_i``, GFLOPs or milliseconds."""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch.nn as nn

from mmdld.utils.json_io import load_per_scale_file

#: ``relative``: ``T_i`` of the model's cost table (its unit: the teacher's full-resolution
#: step); ``gflops``: GFLOPs per image, the DRS included (each test sample's ``dld_gflops``);
#: ``ms``: milliseconds per image from a latency file, the DRS included.
BUDGET_UNITS = ('relative', 'gflops', 'ms')


@dataclass
class BudgetCosts:
    """The cost per image of each candidate scale in a budget's unit.

    Attributes:
        unit (str): One of :data:`BUDGET_UNITS`.
        costs (list[float]): Cost of each scale, in the selector's order, with ``overhead``.
        overhead (float): The part of every cost that does not depend on the scale (the DRS).
        source (str): Where the costs come from, for reports.
    """
    unit: str
    costs: List[float]
    overhead: float
    source: str


def load_latency_file(path: str, scales: Sequence[float]) -> Dict[str, object]:
    """The latencies of a file written by ``tools/analysis_tools/measure_scale_latency.py``.

    Args:
        path (str): The JSON file.
        scales (Sequence[float]): The model's candidate scales; the file's must be the same.

    Returns:
        dict: ``scale_ms`` (list), ``selector_ms`` (0 when the file has none) and
        ``reference_ms``.

    Raises:
        FileNotFoundError, KeyError, ValueError: Naming the file and the key.
    """
    data = load_per_scale_file(path, scales, 'latency file', ('scale_ms', ),
                               'measure_scale_latency.py --out')
    scale_ms = [float(v) for v in data['scale_ms']]
    if len(scale_ms) != len(scales) or any(not (math.isfinite(v) and v > 0) for v in scale_ms):
        raise ValueError(f'latency file {path}: `scale_ms` needs one time > 0 per scale, got '
                         f'{data["scale_ms"]}')
    return dict(scale_ms=scale_ms, selector_ms=float(data.get('selector_ms') or 0.),
                reference_ms=data.get('reference_ms'))


def budget_costs(model: nn.Module, unit: str = 'relative',
                 latency_file: Optional[str] = None) -> BudgetCosts:
    """The cost table of a DLD model (a ``DLDDistiller`` with a DRS) in a budget's unit.

    Args:
        model (nn.Module): The DLD model; its costs must be known (``costs_ready``; its
            ``prepare_costs`` measures missing ones).
        unit (str): One of :data:`BUDGET_UNITS`.
        latency_file (str, optional): The file of ``measure_scale_latency.py``; needed for
            ``'ms'``.

    Returns:
        BudgetCosts: The costs per scale.
    """
    if unit not in BUDGET_UNITS:
        raise ValueError(f'budget unit must be one of {BUDGET_UNITS}, got {unit!r}')
    if getattr(model, 'selector', None) is None:
        raise ValueError(f'a cost budget needs a DLD model with a DRS (`model.selector`); '
                         f'{type(model).__name__} has none')
    scales = tuple(model.scales)
    if unit == 'ms':
        if latency_file is None:
            raise ValueError("a budget in 'ms' needs the latency file of "
                             'measure_scale_latency.py (latency_file / --latency-file)')
        latency = load_latency_file(latency_file, scales)
        overhead = latency['selector_ms']
        return BudgetCosts('ms', [ms + overhead for ms in latency['scale_ms']], overhead,
                           latency_file)
    if not getattr(model, 'costs_ready', False):
        raise RuntimeError(f'{type(model).__name__}: the scale costs are not known yet; call '
                           '`prepare_costs(inputs, data_samples)` first')
    if unit == 'relative':
        return BudgetCosts('relative', [float(c) for c in model.scale_costs], 0.,
                           'the model\'s T_i')
    gflops = [float(model.gflops_at(i)) for i in range(len(scales))]
    return BudgetCosts('gflops', gflops, gflops[0] - float(model.scale_gflops[0]),
                       'the model\'s GFLOPs per image, DRS included')
