"""The DLD cost table: ``T_i`` and GFLOPs per scale, from the config, a cost file or measured
once."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, broadcast
from mmengine.logging import print_log
from torch import Tensor

from mmdld.models.task_modules import count_flops, count_predict_flops
from mmdld.models.utils import count_predict_flops_at_scales, normalise_costs
from mmdld.utils.json_io import load_per_scale_file


@dataclass
class ScaleCosts:
    """Costs of a DLD student.

    Attributes:
        relative (list[float]): ``T_i`` of eq. 3, the student's average FLOPs at each candidate
            scale over the teacher's at full resolution.
        gflops (list[float]): The student's average GFLOPs per image at each candidate scale.
        selector_gflops (float): GFLOPs per image of the selector (0 without one).
        reference_gflops (float): The teacher's average GFLOPs per image at full resolution.
    """
    relative: List[float]
    gflops: List[float]
    selector_gflops: float
    reference_gflops: float = float('nan')


def selector_gflops(selector: nn.Module, inputs: Tensor,
                    img_shapes: Optional[Sequence[Sequence[int]]] = None) -> float:
    """GFLOPs per image of a selector's forward on ``inputs`` (the project's FLOP counter).

    Args:
        selector (nn.Module): The DRS.
        inputs (Tensor): Pre-processed batch ``[B, C, H, W]``.
        img_shapes (Sequence, optional): Valid ``(h, w)`` per image, as the distiller passes
            them (the DRS crops each image out of the padding before resizing it).
    """
    kwargs = {} if img_shapes is None else dict(img_shapes=[tuple(s[:2]) for s in img_shapes])
    return count_flops(selector, (inputs, ), kwargs).total / inputs.size(0) / 1e9


def load_costs_file(path: str, scales: Sequence[float]) -> Dict[str, object]:
    """The costs of a file written by ``tools/analysis_tools/measure_scale_costs.py --out``.

    Args:
        path (str): The JSON file (``model.scale_costs_file``).
        scales (Sequence[float]): The model's candidate scales; the file's must be the same.

    Returns:
        dict: ``scale_costs`` and ``scale_gflops`` (lists), and ``selector_gflops`` when the
        file has it.

    Raises:
        FileNotFoundError, KeyError, ValueError: Naming the file and the key.
    """
    data = load_per_scale_file(path, scales, 'DLDDistiller: `model.scale_costs_file`',
                               ('scale_costs', 'scale_gflops'), 'measure_scale_costs.py --out')
    costs = {key: [float(v) for v in data[key]] for key in ('scale_costs', 'scale_gflops')}
    if data.get('selector_gflops') is not None:
        costs['selector_gflops'] = float(data['selector_gflops'])
    return costs


@torch.no_grad()
def in_input_frame(data_samples: Sequence) -> List:
    """Copies of the samples whose original frame is the network's input frame.

    Costs may be measured on a training batch, whose ``ori_shape`` and ``scale_factor`` describe
    the image before its crop and resize: the test step would map boxes back there and paste
    masks outside the image (MMDetection's ``_do_paste_mask`` then fails).
    """
    samples = []
    for sample in data_samples:
        sample = sample.clone()
        h, w = sample.metainfo['img_shape'][:2]
        sample.set_metainfo(dict(ori_shape=(h, w), scale_factor=(1.0, 1.0)))
        samples.append(sample)
    return samples


def measure_costs(student: nn.Module,
                  teacher: nn.Module,
                  selector: Optional[nn.Module],
                  inputs: Tensor,
                  data_samples: list,
                  scales: Sequence[float],
                  size_divisor: int,
                  pad_value: float) -> ScaleCosts:
    """Measures the student at every scale and the teacher at 1.0 on one pre-processed batch.

    Counts each model's whole test step (:func:`~mmdld.models.task_modules.count_predict_flops`,
    detections and every decoder step included): the student's on the batch resized as it sees
    it (:func:`~mmdld.models.utils.count_predict_flops_at_scales`), the selector on the
    full-resolution batch, all with the samples in the input frame (:func:`in_input_frame`).
    In a distributed
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
    data_samples = in_input_frame(data_samples)
    modes = [(m, m.training) for m in (student, teacher, selector) if m is not None]
    for module, _ in modes:
        module.eval()
    try:
        # The teacher at full resolution (the reference), then the student at each scale.
        flops = [count_predict_flops(teacher, inputs, data_samples)[0].total / num]
        flops += [count.total / num for count in count_predict_flops_at_scales(
            student, inputs, data_samples, scales, size_divisor, pad_value)]
        img_shapes = [s.metainfo['img_shape'] for s in data_samples]
        drs = selector_gflops(selector, inputs, img_shapes) * 1e9 if selector is not None else 0.
    finally:
        for module, mode in modes:
            module.train(mode)
    totals = torch.tensor([*flops, drs], dtype=torch.float64, device=inputs.device)
    all_reduce(totals, op='mean')  # a no-op outside distributed runs
    totals = totals.tolist()
    return ScaleCosts(
        relative=normalise_costs(totals[1:-1], totals[0]),
        gflops=[f / 1e9 for f in totals[1:-1]],
        selector_gflops=totals[-1] / 1e9,
        reference_gflops=totals[0] / 1e9)


class ScaleCostTable(nn.Module):
    """``T_i`` (eq. 3), GFLOPs per candidate scale and the selector's GFLOPs of a DLD model.

    Values the config gives are kept; then those of ``costs_file`` (``model.scale_costs_file``,
    written by ``tools/analysis_tools/measure_scale_costs.py --out``: ``T_i`` averaged over
    held-out images); the missing ones are measured by :meth:`ensure`, once, on a
    pre-processed batch (:func:`measure_costs`), which ``DLDDistiller.forward`` calls
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
        costs_file (str, optional): A cost file (:func:`load_costs_file`); its values count
            as given by the config, for the keys the config leaves out.
    """

    #: (attribute, config key, buffer) of each stored value.
    FIELDS = (('relative', 'scale_costs', 'stored_scale_costs'),
              ('gflops', 'scale_gflops', 'stored_scale_gflops'),
              ('selector_gflops', 'selector_gflops', 'stored_selector_gflops'))

    def __init__(self, scales: Sequence[float], relative: Optional[Sequence[float]] = None,
                 gflops: Optional[Sequence[float]] = None,
                 selector_gflops: Optional[float] = None, with_selector: bool = True,
                 costs_file: Optional[str] = None) -> None:
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        if costs_file is not None:
            from_file = load_costs_file(costs_file, self.scales)
            relative = from_file['scale_costs'] if relative is None else relative
            gflops = from_file['scale_gflops'] if gflops is None else gflops
            if selector_gflops is None:
                selector_gflops = from_file.get('selector_gflops')
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
        share = (f' ({100 * self.selector_gflops / measured.reference_gflops:.2f}% of the '
                 f"teacher's {measured.reference_gflops:.4f})"
                 if measured.reference_gflops > 0 else '')
        print_log(
            f'DLD costs measured on a batch of {inputs.size(0)} images: scales '
            f'{list(self.scales)}, scale_costs={[round(c, 4) for c in self.relative]}, '
            f'scale_gflops={[round(g, 4) for g in self.gflops]}, selector_gflops='
            f'{self.selector_gflops:.4f}{share} (measure them on held-out images with the '
            'analysis tool measure_scale_costs.py --out and set `scale_costs_file` to skip '
            'this measurement)', logger='current')
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
