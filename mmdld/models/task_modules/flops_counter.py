"""The project's one FLOP counter: MMEngine's ``FlopAnalyzer`` plus handles for the operators of
a text spotter's test step that MMEngine does not count.

Every FLOP figure of mmdld goes through :func:`count_flops`: the costs ``T_i`` of eq. 3
(``mmdld.models.utils.measure_scale_flops``, the DLD distiller's cost table), the FLOPs of a
whole test step (``mmdld.evaluation.cost``) and the analysis tools. Ours because MMEngine counts
neither recurrent layers nor MMCV's RoIAlign, and needs a tensor-only forward.

Convention (MMEngine's and fvcore's): one multiply-add is one FLOP. MMEngine's own handles count
convolutions (``Cout * Cin / groups * k * k * Hout * Wout``), linear layers and matrix products
(``aten::linear``/``addmm``/``mm``/``matmul``/``bmm``/``einsum``), normalisation and the bilinear
and nearest resizes. Added here (:data:`FLOP_HANDLES`):

- Recurrent layers (``aten::lstm``, ``aten::gru``, ``aten::rnn_*`` and their ``*_cell`` steps):
  every weight matrix once per sequence element, layer and direction; an LSTM layer costs
  ``T * B * (4H * I + 4H * H)`` per direction. Under JIT tracing ``nn.LSTMCell`` and
  ``nn.GRUCell`` come out as two ``aten::linear`` per step, which MMEngine counts with the same
  formula, so a decoder unrolled ``T`` steps costs ``T`` times one step.
- MMCV's RoIAlign (``prim::PythonOp.RoIAlignFunction``): one bilinear interpolation, 4
  multiply-adds, per sampling point, channel and output bin: ``C * oh * ow * 4 * sum_r P_r``,
  where ``P_r`` is ``sampling_ratio ** 2`` or, with ``sampling_ratio=0``, MMCV's adaptive grid
  ``ceil(h_r / oh) * ceil(w_r / ow)`` of RoI ``r``; the adaptive grids are read from the RoIs
  when the op runs (:class:`RoIAlignSampling`), since a trace holds shapes, not values.
- Contractions written as a product and a sum (``aten::sum`` of an ``aten::mul``, e.g. the
  attention decoder's glimpse ``sum_i alpha_i c_i``): one multiply-add per product element, what
  ``bmm`` would count for the same result.
- The anti-aliased bilinear resize (``aten::_upsample_bilinear2d_aa``, the DRS's input copy):
  two separable passes (width, then height), each output element a weighted sum of
  ``max(2, 2 * in / out)`` inputs along its axis.
- Grid sampling (``aten::grid_sampler``, what ``F.grid_sample`` traces to; Text Perceptron's
  shape transform): every output element a weighted sum of its taps, per channel: 4
  multiply-adds for bilinear (one interpolation, as for RoIAlign's sampling points), 1 for
  nearest, 16 for bicubic; 8 for trilinear on a 5-D input. The grid itself is an input (its
  matrix product is counted where it is computed).

Not counted (they appear in :attr:`FlopCount.unsupported`): element-wise operations without a
multiply-add and operations that only compare or move values: additions and subtractions,
products that no sum reduces (mask products, the decomposed RNN cells' gates), divisions,
activations (sigmoid, tanh, softmax, log-softmax, exp), max-pooling, comparisons, embedding
look-ups, sorting and NMS. Each costs O(elements), next to the O(elements x channels x kernel)
of the counted operators; their size is measured in ``docs/benchmarks.md`` ("FLOPs: one
counter").
"""
import contextlib
import copy
import math
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Tuple)

import numpy as np
import torch
import torch.nn as nn
from mmcv.ops import RoIAlign
from mmdet.structures.bbox import BaseBoxes
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.structures import BaseDataElement
from torch import Tensor

ROI_ALIGN_OP = 'prim::PythonOp.RoIAlignFunction'


# ---------------------------------------------------------------- handles
def _list_items(value: Any) -> List[Any]:
    """Elements of a traced ``prim::ListConstruct`` (the weights of an RNN op)."""
    node = value.node()
    return list(node.inputs()) if node.kind() == 'prim::ListConstruct' else []


def _matrix_sizes(values: Sequence[Any]) -> int:
    """Summed size of the 2-D tensors among ``values`` (an RNN's weight matrices)."""
    total = 0
    for value in values:
        shape = get_shape(value) if isinstance(value.type(), torch.TensorType) else None
        if shape is not None and len(shape) == 2:
            total += math.prod(shape)
    return total


def rnn_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu`` over a whole sequence.

    ``FLOPs = sequence elements * sum of the weight matrices' sizes`` (every layer and
    direction, gates included: an LSTM's matrices are ``4H x I`` and ``4H x H``). The sequence
    elements are ``T * B`` of a padded ``(T, B, I)`` / ``(B, T, I)`` input, or the rows of a
    packed one (whose second argument holds the batch sizes).
    """
    shape = get_shape(inputs[0])
    if shape is None:
        return 0
    packed = len(shape) == 2
    steps = shape[0] if packed else shape[0] * shape[1]
    weights = [item for value in inputs[1:] for item in _list_items(value)]
    return steps * _matrix_sizes(weights)


def rnn_cell_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::lstm_cell`` / ``gru_cell`` / ``rnn_*_cell``: one step, ``B * (W_ih + W_hh)``."""
    shape = get_shape(inputs[0])
    if shape is None:
        return 0
    batch = shape[0] if len(shape) == 2 else 1
    return batch * _matrix_sizes(inputs[2:4])


def mul_sum_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::sum``: a contraction (one multiply-add per product) when it reduces a product."""
    if inputs[0].node().kind() not in ('aten::mul', 'aten::mul_'):
        return 0  # additions only
    shape = get_shape(inputs[0])
    return math.prod(shape) if shape is not None else 0


def antialias_resize_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::_upsample_bilinear2d_aa``: width pass, then height pass, ``2 * in / out`` taps."""
    in_shape, out_shape = get_shape(inputs[0]), get_shape(outputs[0])
    if in_shape is None or out_shape is None or len(in_shape) != 4:
        return 0
    num, channels, in_h, in_w = in_shape
    out_h, out_w = out_shape[2:]

    def taps(size_in: int, size_out: int) -> float:
        return max(2., 2. * size_in / max(size_out, 1))

    width_pass = in_h * out_w * taps(in_w, out_w)
    height_pass = out_h * out_w * taps(in_h, out_h)
    return int(round(num * channels * (width_pass + height_pass)))


def grid_sampler_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::grid_sampler``: taps per output element and channel, ``N * C * prod(out) * taps``.

    Taps by ``interpolation_mode`` (ATen's ``GridSamplerInterpolation``): bilinear (0) ``2 ** d``,
    nearest (1) 1, bicubic (2, 2-D only) ``4 ** d``, with ``d`` the spatial dimensions (2 for a
    4-D input, 3 for a 5-D one).
    """
    out_shape = get_shape(outputs[0])
    if out_shape is None:
        return 0
    spatial_dims = len(out_shape) - 2
    taps = {0: 2**spatial_dims, 1: 1, 2: 4**spatial_dims}[inputs[2].toIValue()]
    return taps * math.prod(out_shape)


def roi_align_sampling_points(rois: Tensor, output_size: Sequence[int], spatial_scale: float,
                              sampling_ratio: int, aligned: bool) -> int:
    """Sampling points per (channel, output bin), summed over the RoIs, as MMCV samples them.

    MMCV's kernel: ``roi_bin_grid_h = sampling_ratio > 0 ? sampling_ratio :
    ceil(roi_height / pooled_height)`` (likewise for the width), with ``roi_height`` the RoI's
    height on the feature map (at least 1 when not ``aligned``); an empty grid samples nothing.
    """
    if sampling_ratio > 0:
        return int(rois.shape[0]) * sampling_ratio**2
    # NumPy, not torch: this runs inside a trace, and torch ops would be recorded in it.
    boxes = rois.detach().cpu().numpy().astype(np.float32)
    heights = (boxes[:, 4] - boxes[:, 2]) * np.float32(spatial_scale)
    widths = (boxes[:, 3] - boxes[:, 1]) * np.float32(spatial_scale)
    if not aligned:
        heights, widths = np.maximum(heights, 1), np.maximum(widths, 1)
    grid_h = np.maximum(np.ceil(heights / np.float32(output_size[0])), 0)
    grid_w = np.maximum(np.ceil(widths / np.float32(output_size[1])), 0)
    return int((grid_h * grid_w).sum())


class RoIAlignSampling:
    """Records the sampling points of every call of the MMCV ``RoIAlign`` modules of a model.

    A trace holds shapes, not values, but MMCV's adaptive sampling (``sampling_ratio=0``)
    depends on each RoI's size. Inside this context manager a forward pre-hook on each
    ``RoIAlign`` module of ``root`` records the points of every call
    (:func:`roi_align_sampling_points`); :meth:`flop_handle`, the FlopAnalyzer handle of
    :data:`ROI_ALIGN_OP`, takes the records of the node's module in call order (the trace keeps
    the order of execution). A call without a record (``roi_align`` used as a function) counts
    ``sampling_ratio ** 2`` points per bin, or 1 for adaptive sampling (a lower bound).

    Args:
        root (nn.Module): The traced module; names are the FlopAnalyzer's (``named_modules``).
    """

    def __init__(self, root: nn.Module) -> None:
        self.names = {module: name for name, module in root.named_modules()}
        self.records: Dict[str, Deque[int]] = defaultdict(deque)
        self._handles: List[Any] = []

    def __enter__(self) -> 'RoIAlignSampling':
        self._handles = [
            module.register_forward_pre_hook(self._record) for module in self.names
            if isinstance(module, RoIAlign)
        ]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _record(self, module: RoIAlign, args: tuple) -> None:
        if len(args) >= 2:
            self.records[self.names[module]].append(
                roi_align_sampling_points(args[1], module.output_size, module.spatial_scale,
                                          module.sampling_ratio, module.aligned))

    def flop_handle(self, inputs: List[Any], outputs: List[Any]) -> Counter:
        """FLOPs of one RoIAlign node: ``C * oh * ow * 4`` per sampling point."""
        out_shape = get_shape(outputs[0])  # (R, C, oh, ow)
        if out_shape is None:
            return Counter()
        node = outputs[0].node()
        scope = node.scopeName().split('/')[-1]
        records = self.records.get(scope)
        if records:
            points = records.popleft()
        else:
            args = node.scalar_args()  # output_size, spatial_scale, sampling_ratio, ...
            ratio = int(args[2]) if len(args) > 2 else 0
            points = out_shape[0] * max(ratio, 1)**2
        return Counter(roi_align=4 * points * math.prod(out_shape[1:]))


#: Handles added to MMEngine's (see the module docstring); the RoIAlign one is per count.
FLOP_HANDLES: Dict[str, Callable] = {
    'aten::lstm': rnn_flop_jit,
    'aten::gru': rnn_flop_jit,
    'aten::rnn_tanh': rnn_flop_jit,
    'aten::rnn_relu': rnn_flop_jit,
    'aten::lstm_cell': rnn_cell_flop_jit,
    'aten::gru_cell': rnn_cell_flop_jit,
    'aten::rnn_tanh_cell': rnn_cell_flop_jit,
    'aten::rnn_relu_cell': rnn_cell_flop_jit,
    'aten::sum': mul_sum_flop_jit,
    'aten::_upsample_bilinear2d_aa': antialias_resize_flop_jit,
    'aten::grid_sampler': grid_sampler_flop_jit,
}


# ---------------------------------------------------------------- counting
@dataclass
class FlopCount:
    """FLOPs of one traced call.

    Attributes:
        total (int): All counted FLOPs.
        by_module (dict[str, int]): FLOPs of each submodule (MMEngine's ``by_module``, names
            relative to the counted module, ``''`` for the whole).
        by_operator (dict[str, int]): FLOPs of each operator kind (``conv``, ``linear``,
            ``lstm``, ``roi_align``, ...).
        unsupported (Counter): Operators counted as zero, with their number of calls.
    """
    total: int
    by_module: Dict[str, int]
    by_operator: Dict[str, int]
    unsupported: Counter


class _BoundCall(nn.Module):
    """``module(*tensors, **kwargs)`` as a module of tensors only (what a trace takes)."""

    def __init__(self, module: nn.Module, kwargs: Dict[str, Any]) -> None:
        super().__init__()
        self.module = module
        self.kwargs = kwargs

    def forward(self, *tensors: Tensor) -> Any:
        return self.module(*tensors, **self.kwargs)


def count_flops(module: nn.Module, inputs: Tuple[Tensor, ...],
                kwargs: Optional[Dict[str, Any]] = None, name: Optional[str] = None) -> FlopCount:
    """FLOPs of ``module(*inputs, **kwargs)``, traced by MMEngine's ``FlopAnalyzer``.

    Args:
        module (nn.Module): Whatever to count; its outputs must be tensors (nested tuples,
            lists and dicts of them).
        inputs (tuple[Tensor]): The tensor arguments.
        kwargs (dict, optional): Non-tensor keyword arguments, bound for the trace.
        name (str, optional): What the error message calls the module (default: its class).

    Returns:
        FlopCount: Total, per module (names relative to ``module``), per operator.

    Raises:
        RuntimeError: If JIT tracing cannot follow the call; the message names the module.
    """
    root = _BoundCall(module, kwargs) if kwargs else module
    prefix = 'module.' if kwargs else ''
    analyzer = FlopAnalyzer(root, tuple(inputs))
    analyzer.set_op_handle(**FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    # The tracer's warnings (tensors read as Python values: every decoded word, every polygon)
    # are ignored anyway, and building them took a fifth of a spotter's trace.
    warn = torch._C._jit_get_tracer_state_warn()
    torch._C._jit_set_tracer_state_warn(False)
    with RoIAlignSampling(root) as sampling:
        analyzer.set_op_handle(**{ROI_ALIGN_OP: sampling.flop_handle})
        try:
            total = int(analyzer.total())
        except Exception as err:  # the tracer raises RuntimeError and internal asserts alike
            reason = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            raise RuntimeError(f'FLOPs: JIT tracing of {name or type(module).__name__} failed '
                               f'({reason}); the counter needs a traceable forward') from err
        finally:
            torch._C._jit_set_tracer_state_warn(warn)
    by_module = {}
    for scope, flops in analyzer.by_module().items():
        if prefix and scope == 'module':
            scope = ''
        elif scope.startswith(prefix):
            scope = scope[len(prefix):]
        elif prefix:
            continue  # the wrapper itself
        by_module[scope] = int(flops)
    return FlopCount(total=total, by_module=by_module,
                     by_operator={k: int(v) for k, v in analyzer.by_operator().items()},
                     unsupported=Counter(analyzer.unsupported_ops()))


# ---------------------------------------------------------------- the test step
def flatten_tensors(value: Any) -> List[Tensor]:
    """The tensors of a nested structure, depth first, in order.

    Looks into tuples, lists, dict values, MMEngine data elements (their data and metainfo
    fields) and MMDetection box structures (their ``.tensor``): the outputs of a model's or a
    submodule's forward, which a trace needs as tensors.
    """
    if isinstance(value, BaseBoxes):
        value = value.tensor
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        items: Iterable[Any] = value
    elif isinstance(value, dict):
        items = value.values()
    elif isinstance(value, BaseDataElement):
        # The fields in the order they were set (the element's own records of them are sets,
        # whose order changes from one process to the next).
        fields = value.metainfo_keys() + value.keys()
        items = [item for key, item in vars(value).items() if key in fields]
    else:
        return []
    return [tensor for item in items for tensor in flatten_tensors(item)]


class PredictForward(nn.Module):
    """``model(inputs, data_samples, mode='predict')`` as a tensor-in, tensors-out module.

    JIT tracing needs tensors in and out, and it drops every op whose result does not reach an
    output. A spotter turns much of its work into Python values (texts decoded from logits, the
    DRS's choice of scale, polygons), so the outputs here are the prediction tensors plus the
    output of every submodule, captured with forward hooks: whatever a module computed is
    counted. The data samples are bound (a copy per call); the last predictions are kept in
    :attr:`results` for their metainfo (``dld_gflops``...).

    Args:
        model (nn.Module): An MMEngine model (``BaseModel`` forward signature).
        data_samples (list): The batch's data samples after preprocessing.
    """

    def __init__(self, model: nn.Module, data_samples: Optional[list]) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples
        self.results: Any = []

    def forward(self, inputs: Tensor) -> tuple:
        captured: List[Tensor] = []
        handles = [
            module.register_forward_hook(
                lambda _module, _args, output: captured.extend(flatten_tensors(output)))
            for module in self.model.modules() if module is not self.model
        ]
        try:
            self.results = self.model(inputs, copy.deepcopy(self.data_samples), mode='predict')
        finally:
            for handle in handles:
                handle.remove()
        for result in self.results:
            pred = getattr(result, 'pred_instances', None)
            if pred is not None:
                captured.extend(flatten_tensors([value for _, value in pred.items()]))
        # A trace needs an output that depends on the input, even with no predictions.
        return tuple(captured) + (inputs.reshape(-1)[:1], )


#: ``test_cfg`` keys of test-time work that serves only the evaluation, switched off while
#: counting: ``rec_on_gt`` reads the GT boxes for the Rec metric (``SpottingRoIHead``).
EVALUATION_ONLY_KEYS = ('rec_on_gt', )


@contextlib.contextmanager
def inference_only(model: nn.Module) -> Iterator[None]:
    """Within it, the ``test_cfg`` of every submodule has :data:`EVALUATION_ONLY_KEYS` off."""
    changed = []
    for module in model.modules():
        cfg = getattr(module, 'test_cfg', None)
        if isinstance(cfg, dict):
            for key in EVALUATION_ONLY_KEYS:
                if cfg.get(key, False):
                    changed.append((cfg, key, cfg[key]))
                    cfg[key] = False
    try:
        yield
    finally:
        for cfg, key, value in changed:
            cfg[key] = value


def count_predict_flops(model: nn.Module, inputs: Tensor,
                        data_samples: Optional[list]) -> Tuple[FlopCount, Any]:
    """FLOPs of one test step's forward, ``model(inputs, data_samples, mode='predict')``.

    Counted as inference: evaluation-only work is off (:func:`inference_only`). Module names
    are relative to ``model``.

    Args:
        model (nn.Module): An MMEngine model, in eval mode.
        inputs (Tensor): The pre-processed batch.
        data_samples (list, optional): Its data samples (not modified).

    Returns:
        tuple: The :class:`FlopCount` and the predictions.
    """
    wrapper = PredictForward(model, data_samples)
    with inference_only(model):
        count = count_flops(wrapper, (inputs, ), name=f'the test step of {type(model).__name__}')
    by_module = {}
    for name, flops in count.by_module.items():
        if name == 'model':
            by_module[''] = flops
        elif name.startswith('model.'):
            by_module[name[len('model.'):]] = flops
    count.by_module = by_module
    return count, wrapper.results


# ---------------------------------------------------------------- parts of a spotter
#: The parts of a spotter's test step that reports list: (label, module paths in the spotter).
SPOTTER_PARTS = (
    ('backbone', ('backbone', )),
    ('neck', ('neck', )),
    ('RPN', ('rpn_head', )),
    ('box head', ('roi_head.bbox_head', )),
    ('mask head', ('roi_head.mask_head', )),
    ('RoI extractors', ('roi_head.bbox_roi_extractor', 'roi_head.mask_roi_extractor',
                        'roi_head.rec_roi_extractor')),
    # The recogniser inside an RoI head (Mask R-CNN spotter) or beside the detection head
    # (Text Perceptron, whose detection head and shape transform are parts of their own).
    ('recognition convs', ('roi_head.rec_head.convs', 'rec_head.convs')),
    ('BiLSTM', ('roi_head.rec_head.lstm', 'rec_head.lstm')),
    ('decoder', ('roi_head.rec_head.decoder', 'rec_head.decoder')),
    ('segmentation head', ('det_head', )),
    ('shape transform', ('shape_transform', )),
)


def spotter_parts(count: FlopCount) -> Dict[str, int]:
    """FLOPs of each part of a spotter's (or a DLD model's) counted step.

    The spotter is found by its ``backbone`` (``student.backbone`` in a DLD model); ``DRS`` is
    a ``selector`` module, ``RoIAlign`` the RoIAlign operators (inside the RoI extractors) and
    ``other`` whatever no part holds (mask pasting, the DLD model's image resize, ...).

    Args:
        count (FlopCount): From :func:`count_predict_flops`.

    Returns:
        dict[str, int]: FLOPs per part, ``total`` included; parts the model lacks are absent.
    """
    by_module = count.by_module
    backbones = sorted((name for name in by_module
                        if name == 'backbone' or name.endswith('.backbone')), key=len)
    prefix = backbones[0][:-len('backbone')] if backbones else ''
    parts: Dict[str, int] = {}
    selector = next((name for name in sorted(by_module, key=len)
                     if name == 'selector' or name.endswith('.selector')), None)
    if selector is not None:
        parts['DRS'] = by_module[selector]
    for label, paths in SPOTTER_PARTS:
        present = [prefix + path for path in paths if prefix + path in by_module]
        if present:
            parts[label] = sum(by_module[path] for path in present)
    parts['other'] = count.total - sum(parts.values())
    parts['RoIAlign'] = count.by_operator.get('roi_align', 0)
    parts['total'] = count.total
    return parts
