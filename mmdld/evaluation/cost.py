"""Inference cost of a spotter: FLOPs of a whole test step, and images per second.

Used by the FLOPs and FPS analysis tools and by the experiments' evaluation steps.

Ours because MMDetection's ``get_flops.py`` counts only the ``'tensor'``-mode forward (no
recognition, no DRS) and its ``InferenceBenchmark`` needs CUDA.

The counted forward is ``model(inputs, data_samples, mode='predict')``, exactly what ``test_step``
runs, traced by MMEngine's :class:`~mmengine.analysis.FlopAnalyzer` on each test image at the
resolution that the pipeline (and the DRS, when there is one) actually uses.

FLOPs follow MMEngine's (fvcore's) convention: one multiply-add counts as one FLOP. MMEngine
counts no recurrent layers, so :data:`RNN_FLOP_HANDLES` adds them (an LSTM step costs its weight
matrices' size per sequence element). Ops without a handle (RoIAlign, NMS, element-wise ops)
count as zero and are listed in the result.

JIT tracing cannot follow every model (e.g. it rejects ``tensor == True``); when it fails, the
step is counted instead with PyTorch's dispatcher-level ``FlopCounterMode``, which needs no trace
but counts only convolutions, matrix products and (with the formulas added here) recurrent
layers, halved to the same multiply-add convention. The result says which method was used.
"""
import copy
import math
import time
import warnings
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from torch import nn


def _shape(value: Any) -> Optional[List[int]]:
    """Shape of a traced tensor value, ``None`` when unknown."""
    try:
        return value.type().sizes()
    except (AttributeError, RuntimeError):
        return None


def _list_items(value: Any) -> List[Any]:
    """Elements of a traced ``prim::ListConstruct`` (the weights of an RNN op)."""
    node = value.node()
    return list(node.inputs()) if node.kind() == 'prim::ListConstruct' else []


def _weight_macs(weights: Iterable[Any]) -> int:
    """Multiply-adds of one sequence element: the size of every weight matrix (2-D)."""
    total = 0
    for weight in weights:
        shape = _shape(weight)
        if shape is not None and len(shape) == 2:
            total += int(np.prod(shape))
    return total


def rnn_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::lstm`` / ``aten::gru`` / ``aten::rnn_tanh`` (whole sequence).

    Every layer and direction applies its input and hidden weight matrices once per sequence
    element: ``FLOPs = seq_len * batch * sum(weight matrix sizes)``, gates included (a LSTM's
    matrices are ``4H x I`` and ``4H x H``).
    """
    shape = _shape(inputs[0])
    if shape is None or len(shape) < 2:
        return 0
    return int(shape[0] * shape[1]) * _weight_macs(_list_items(inputs[2]))


def rnn_cell_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::lstm_cell`` / ``aten::gru_cell`` / ``aten::rnn_tanh_cell`` (one step)."""
    shape = _shape(inputs[0])
    if shape is None:
        return 0
    batch = shape[0] if len(shape) == 2 else 1
    return batch * _weight_macs(inputs[2:4])


#: Extra FlopAnalyzer handles for recurrent layers (the recognition heads' BiLSTM and decoder).
RNN_FLOP_HANDLES = {
    'aten::lstm': rnn_flop_jit,
    'aten::gru': rnn_flop_jit,
    'aten::rnn_tanh': rnn_flop_jit,
    'aten::rnn_relu': rnn_flop_jit,
    'aten::lstm_cell': rnn_cell_flop_jit,
    'aten::gru_cell': rnn_cell_flop_jit,
    'aten::rnn_tanh_cell': rnn_cell_flop_jit,
    'aten::rnn_relu_cell': rnn_cell_flop_jit,
}


def _tensors_in(value: Any, found: List[torch.Tensor]) -> None:
    """Collect the tensors of nested tuples, lists, dicts and mmdet box structures."""
    value = getattr(value, 'tensor', value)
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _tensors_in(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _tensors_in(item, found)


class PredictForward(nn.Module):
    """``model(inputs, data_samples, mode='predict')`` as a tensor-in, tensors-out module.

    JIT tracing (what :class:`~mmengine.analysis.FlopAnalyzer` does) needs tensors in and out,
    and it drops every op whose result does not reach an output. A spotter turns much of its
    work into Python values (texts decoded from logits, the DRS's choice of scale, polygons), so
    the outputs here are the prediction tensors plus the output of every submodule, captured
    with forward hooks: whatever a module computed is counted. The data samples are bound here;
    the last predictions are kept in :attr:`results` for their metainfo (``dld_gflops``...).

    Args:
        model (nn.Module): An MMEngine model (``BaseModel`` forward signature).
        data_samples (list): The batch's data samples after preprocessing.
    """

    def __init__(self, model: nn.Module, data_samples: List[Any]) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples
        self.results: List[Any] = []

    def forward(self, inputs: torch.Tensor) -> tuple:
        captured: List[torch.Tensor] = []
        handles = [
            module.register_forward_hook(
                lambda _module, _args, output: _tensors_in(output, captured))
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
                _tensors_in([value for _, value in pred.items()], captured)
        # A trace needs an output that depends on the input, even with no predictions.
        return tuple(captured) + (inputs.sum() * 0, )


def _meta(result: Any, key: str) -> Optional[float]:
    value = result.get(key) if isinstance(result, dict) else getattr(result, key, None)
    return None if value is None else float(value)


def _rnn_steps(input_shape: Sequence[int]) -> int:
    """Sequence elements of an RNN input: (T, B, I) / (B, T, I), or packed (sum(T), I)."""
    return input_shape[0] if len(input_shape) == 2 else input_shape[0] * input_shape[1]


def _mkldnn_rnn_layer_flop(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """``aten.mkldnn_rnn_layer`` (a CPU RNN layer, one direction): 2 FLOPs per multiply-add."""
    return 2 * _rnn_steps(input_shape) * (math.prod(w_ih) + math.prod(w_hh))


def _cudnn_rnn_flop(input_shape, weights, *args, out_shape=None, **kwargs) -> int:
    """``aten._cudnn_rnn`` (all layers and directions): 2 FLOPs per multiply-add."""
    matrices = [shape for shape in weights if len(shape) == 2]
    return 2 * _rnn_steps(input_shape) * sum(math.prod(shape) for shape in matrices)


def _count_by_dispatch(model: nn.Module, inputs: torch.Tensor,
                       data_samples: List[Any]) -> tuple:
    """Multiply-adds of one predict call counted by ``FlopCounterMode`` (no tracing)."""
    from torch.utils.flop_counter import FlopCounterMode
    mapping = {
        torch.ops.aten.mkldnn_rnn_layer: _mkldnn_rnn_layer_flop,
        torch.ops.aten._cudnn_rnn: _cudnn_rnn_flop,
    }
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        results = model(inputs, copy.deepcopy(data_samples), mode='predict')
    # FlopCounterMode counts 2 FLOPs per multiply-add; MMEngine counts 1.
    return counter.get_total_flops() // 2, results


def count_inference_flops(model: nn.Module,
                          data_batch: Dict[str, Any],
                          warmup: bool = False) -> Dict[str, Any]:
    """Count the FLOPs of one test step (traced; by dispatch when tracing fails).

    Args:
        model (nn.Module): The model, in eval mode.
        data_batch (dict): A batch from the test dataloader (before the data preprocessor).
        warmup (bool): Run one untraced test step first. Pass True for the first batch: a model
            may do one-off work on the first batch it sees (a DLD student measures its per-scale
            costs), which is not part of its per-image cost.

    Returns:
        dict: ``flops`` (int, the whole batch), ``input_shape`` (the preprocessed batch's
        shape), ``dld_gflops`` / ``dld_scale`` (lists, per image, when the model reports them),
        ``unsupported`` (Counter of ops counted as zero, traced counts only) and ``method``
        (``'jit'`` or ``'dispatch'``).
    """
    with torch.no_grad():
        if warmup:
            model.test_step(data_batch)
        data = model.data_preprocessor(data_batch, False)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):  # unbatched inputs: a (1, C, H, W) stack
            inputs = torch.stack(list(inputs))
        wrapper = PredictForward(model, data['data_samples'])
        analyzer = FlopAnalyzer(wrapper, (inputs, ))
        analyzer.set_op_handle(**RNN_FLOP_HANDLES)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        try:
            flops = int(analyzer.total())
            unsupported = Counter(analyzer.unsupported_ops())
            results, method = wrapper.results, 'jit'
        except Exception as err:  # the tracer raises RuntimeError and internal asserts alike
            reason = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            warnings.warn(f'FLOPs: JIT tracing failed ({reason}); counting convolutions, '
                          'matrix products and RNNs with FlopCounterMode instead')
            flops, results = _count_by_dispatch(model, inputs, data['data_samples'])
            unsupported, method = Counter(), 'dispatch'
    return dict(
        flops=int(flops),
        input_shape=tuple(inputs.shape),
        dld_gflops=[v for v in (_meta(r, 'dld_gflops') for r in results) if v is not None],
        dld_scale=[v for v in (_meta(r, 'dld_scale') for r in results) if v is not None],
        unsupported=unsupported,
        method=method)


def summarize_flops(per_batch: List[Dict[str, Any]], num_images: int) -> Dict[str, Any]:
    """Average the results of :func:`count_inference_flops` per image.

    Args:
        per_batch (list[dict]): One result per batch.
        num_images (int): Images in these batches.

    Returns:
        dict: ``gflops`` (traced, per image), ``dld_gflops`` and ``dld_scale`` (averages of
        what the model reports, when it does), ``num_images``, ``input_shapes`` (distinct
        shapes), ``unsupported_ops`` and ``methods`` (batches counted by each method).
    """
    summary: Dict[str, Any] = dict(
        num_images=num_images,
        gflops=sum(item['flops'] for item in per_batch) / max(num_images, 1) / 1e9,
        input_shapes=sorted({item['input_shape'] for item in per_batch}),
        unsupported_ops=dict(sum((item['unsupported'] for item in per_batch), Counter())),
        methods=dict(Counter(item.get('method', 'jit') for item in per_batch)))
    for key in ('dld_gflops', 'dld_scale'):
        values = [value for item in per_batch for value in item[key]]
        if values:
            summary[key] = float(np.mean(values))
    return summary


def benchmark_inference(model: nn.Module,
                        data_loader: Iterable[Dict[str, Any]],
                        max_iter: int = 200,
                        num_warmup: int = 5,
                        log_interval: int = 50,
                        logger: Any = None) -> Dict[str, float]:
    """Images per second of ``model.test_step`` (preprocessing included, data loading not).

    Args:
        model (nn.Module): The model, in eval mode, on its device.
        data_loader (Iterable[dict]): Test batches.
        max_iter (int): Batches to run, warm-up included.
        num_warmup (int): First batches left out of the timing.
        log_interval (int): Log the running FPS every this many batches.
        logger (MMLogger, optional): Where to log; print when ``None``.

    Returns:
        dict: ``fps`` (images per second), ``ms_per_image``, ``num_images`` timed.

    Raises:
        ValueError: If the loader has no batch beyond the warm-up.
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    elapsed, timed = 0.0, 0
    for i, data_batch in enumerate(data_loader):
        if i >= max_iter:
            break
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            model.test_step(data_batch)
        sync()
        if i < num_warmup:
            continue
        elapsed += time.perf_counter() - start
        timed += len(data_batch['inputs'])
        if log_interval and (i + 1) % log_interval == 0:
            message = f'Done batch [{i + 1}/{max_iter}], fps: {timed / elapsed:.2f} img/s'
            logger.info(message) if logger is not None else print(message)
    if timed == 0:
        raise ValueError(f'no batch left to time after {num_warmup} warm-up batches; '
                         'use more images (--max-iter) or fewer warm-up batches (--num-warmup)')
    return dict(fps=timed / elapsed, ms_per_image=1000 * elapsed / timed, num_images=timed)
