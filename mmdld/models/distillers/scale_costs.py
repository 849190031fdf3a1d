"""The DLD cost table: ``T_i`` and GFLOPs per scale, from the config or measured once."""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.dist import all_reduce, broadcast
from mmengine.logging import print_log
from torch import Tensor

from mmdld.models.utils import count_forward_flops, normalise_costs, resize_batch


@dataclass
class ScaleCosts:
    """Costs of a DLD student.

    Attributes:
        relative (list[float]): ``T_i`` of eq. 3, the student's average FLOPs at each candidate
            scale over the teacher's at full resolution.
        gflops (list[float]): The student's average GFLOPs per image at each candidate scale.
        selector_gflops (float): GFLOPs per image of the selector (0 without one).
    """
    relative: List[float]
    gflops: List[float]
    selector_gflops: float


def selector_gflops(selector: nn.Module, inputs: Tensor) -> float:
    """GFLOPs per image of a selector's forward on ``inputs`` (MMEngine's ``FlopAnalyzer``)."""
    analyzer = FlopAnalyzer(selector, (inputs, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    return float(analyzer.total()) / inputs.size(0) / 1e9


@torch.no_grad()
def measure_costs(student: nn.Module,
                  teacher: nn.Module,
                  selector: Optional[nn.Module],
                  inputs: Tensor,
                  data_samples: list,
                  scales: Sequence[float],
                  size_divisor: int,
                  pad_value: float) -> ScaleCosts:
    """Measures the student at every scale and the teacher at 1.0 on one pre-processed batch.

    Uses :func:`~mmdld.models.utils.count_forward_flops` (MMEngine's ``FlopAnalyzer`` on the
    models' tensor-mode ``_forward``), on the batch resized by
    :func:`~mmdld.models.utils.resize_batch` exactly as the student sees it. In a distributed
    run every process measures its own batch and the per-image averages are averaged over the
    processes, so all of them use the same costs.

    Args:
        student (nn.Module): The student spotter.
        teacher (nn.Module): The teacher spotter (reference at scale 1.0).
        selector (nn.Module, optional): The resolution selector, or None.
        inputs (Tensor): Pre-processed batch ``[B, C, H, W]`` at the teacher's resolution.
        data_samples (list): Its data samples.
        scales (Sequence[float]): Candidate scales.
        size_divisor (int): Padding divisor of the resized batches.
        pad_value (float): Padding value of the resized batches.

    Returns:
        ScaleCosts: Relative costs, absolute GFLOPs and the selector's GFLOPs.
    """
    num = inputs.size(0)
    modes = [(m, m.training) for m in (student, teacher, selector) if m is not None]
    for module, _ in modes:
        module.eval()
    try:
        # The teacher at full resolution (the reference), then the student at each scale.
        flops = [count_forward_flops(teacher, inputs, data_samples) / num]
        for scale in scales:
            scaled, samples = resize_batch(inputs, data_samples, scale, size_divisor=size_divisor,
                                           pad_value=pad_value, rescale_gt=False)
            flops.append(count_forward_flops(student, scaled, samples) / num)
        drs = selector_gflops(selector, inputs) * 1e9 if selector is not None else 0.
    finally:
        for module, mode in modes:
            module.train(mode)
    totals = torch.tensor([*flops, drs], dtype=torch.float64, device=inputs.device)
    all_reduce(totals, op='mean')  # a no-op outside distributed runs
    totals = totals.tolist()
    return ScaleCosts(
        relative=normalise_costs(totals[1:-1], totals[0]),
        gflops=[f / 1e9 for f in totals[1:-1]],
        selector_gflops=totals[-1] / 1e9)


class ScaleCostTable(nn.Module):
    """``T_i`` (eq. 3), GFLOPs per candidate scale and the selector's GFLOPs of a DLD model.

    Values the config gives are kept; the missing ones are measured by :meth:`ensure`, once,
    on a pre-processed batch (:func:`measure_costs`), which ``DLDDistiller.forward`` calls
    (through ``DLDDistiller.prepare_costs``) before a training or test step, and tools may
    call before training. Given as config lines (see "Costs T_i" in ``docs/dld.md``), they
    skip the measurement.

    The values are also persistent buffers (``stored_scale_costs``, ``stored_scale_gflops``,
    ``stored_selector_gflops``; NaN while unknown), so that a checkpoint carries them and a
    resumed run or a tested checkpoint reuses them instead of measuring again: ``L_flops``
    never changes under a run. Measured values are broadcast from rank 0 in a distributed
    run. A value the config gives wins over a different one in a loaded checkpoint (a warning
    names both): the config is what the run asks for.

    Args:
        scales (Sequence[float]): The candidate scales.
        relative (Sequence[float], optional): ``T_i`` per scale.
        gflops (Sequence[float], optional): Student GFLOPs per image at each scale.
        selector_gflops (float, optional): DRS GFLOPs per image.
        with_selector (bool): Whether there is a DRS (without one, ``T_i`` is not needed and
            the selector costs 0).
    """

    #: (attribute, config key, buffer) of each stored value.
    FIELDS = (('relative', 'scale_costs', 'stored_scale_costs'),
              ('gflops', 'scale_gflops', 'stored_scale_gflops'),
              ('selector_gflops', 'selector_gflops', 'stored_selector_gflops'))

    def __init__(self, scales: Sequence[float], relative: Optional[Sequence[float]] = None,
                 gflops: Optional[Sequence[float]] = None,
                 selector_gflops: Optional[float] = None, with_selector: bool = True) -> None:
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        self.relative = self._per_scale(relative, 'scale_costs')
        self.gflops = self._per_scale(gflops, 'scale_gflops')
        self.selector_gflops = (None if selector_gflops is None else float(selector_gflops)
                                ) if with_selector else 0.
        self.with_selector = with_selector
        # The values the config fixed: a checkpoint does not replace them.
        self.given = {attr for attr, _, _ in self.FIELDS if getattr(self, attr) is not None}
        num = len(self.scales)
        for _, _, buffer in self.FIELDS:
            size = 1 if buffer == 'stored_selector_gflops' else num
            self.register_buffer(buffer, torch.full((size, ), float('nan'), dtype=torch.float64))
        self._store()

    @property
    def ready(self) -> bool:
        """Whether every value needed is known (given or measured)."""
        return ((self.relative is not None or not self.with_selector)
                and self.gflops is not None and self.selector_gflops is not None)

    def gflops_at(self, index: int) -> float:
        """GFLOPs per image of inference at candidate scale ``index``: student plus DRS."""
        return float(self.gflops[index]) + float(self.selector_gflops)

    def ensure(self, student: nn.Module, teacher: nn.Module, selector: Optional[nn.Module],
               inputs: Tensor, data_samples: list, size_divisor: int,
               pad_value: float) -> bool:
        """Measures the missing values on this batch; returns whether it measured."""
        if self.ready:
            return False
        measured = measure_costs(student, teacher, selector, inputs, data_samples, self.scales,
                                 size_divisor, pad_value)
        if self.relative is None:
            self.relative = measured.relative
        if self.gflops is None:
            self.gflops = measured.gflops
        if self.selector_gflops is None:
            self.selector_gflops = measured.selector_gflops
        self._store()
        # Every rank uses rank 0's values, bit for bit (a no-op outside distributed runs).
        for _, _, buffer in self.FIELDS:
            broadcast(getattr(self, buffer), src=0)
        self._restore()
        print_log(
            f'DLD costs measured on a batch of {inputs.size(0)} images: scales '
            f'{list(self.scales)}, scale_costs={[round(c, 4) for c in self.relative]}, '
            f'scale_gflops={[round(g, 4) for g in self.gflops]}, selector_gflops='
            f'{self.selector_gflops:.4f} (put them in the config to skip this measurement)',
            logger='current')
        return True

    def _store(self) -> None:
        """Writes the known values into the buffers (NaN for the unknown ones)."""
        for attr, _, buffer in self.FIELDS:
            value = getattr(self, attr)
            target = getattr(self, buffer)
            if value is None:
                target.fill_(float('nan'))
            else:
                target.copy_(torch.as_tensor(value, dtype=torch.float64).reshape(-1))

    def _restore(self, warn_prefix: Optional[str] = None) -> None:
        """Reads the values back from the buffers; given values win (with a warning)."""
        for attr, key, buffer in self.FIELDS:
            stored = getattr(self, buffer)
            if not bool(torch.isfinite(stored).all()):
                continue  # unknown there: keep what is known here
            values = stored.tolist()
            value = values[0] if attr == 'selector_gflops' else values
            if attr not in self.given:
                setattr(self, attr, value)
                continue
            if warn_prefix is not None and not torch.allclose(
                    stored.cpu(), torch.as_tensor(getattr(self, attr),
                                                  dtype=torch.float64).reshape(-1)):
                print_log(
                    f'{warn_prefix}`model.{key}` of the config is {getattr(self, attr)}, the '
                    f'checkpoint holds {value}: the config is kept.', logger='current',
                    level=30)  # logging.WARNING
        self._store()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
        self._restore(warn_prefix='DLD costs of the loaded checkpoint: ')

    def _per_scale(self, values: Optional[Sequence[float]], key: str) -> Optional[List[float]]:
        if values is None:
            return None
        values = [float(v) for v in values]
        if len(values) != len(self.scales):
            raise ValueError(f'DLDDistiller: `model.{key}` needs one value per candidate scale '
                             f'{list(self.scales)}, got {values}')
        return values
