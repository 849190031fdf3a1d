"""Inference cost of a spotter: FLOPs of a whole test step, and images per second.

Used by the FLOPs and FPS analysis tools and by the experiments' evaluation steps.

Ours because MMDetection's ``get_flops.py`` counts only the ``'tensor'``-mode forward (no
recognition, no DRS) and its ``InferenceBenchmark`` needs CUDA.

The counted forward is ``model(inputs, data_samples, mode='predict')``, exactly what ``test_step``
runs, on each test image at the resolution that the pipeline (and the DRS, when there is one)
actually uses, by the project's one FLOP counter
(:func:`~mmdld.models.task_modules.count_predict_flops`: MMEngine's ``FlopAnalyzer``, one
multiply-add = one FLOP, with recurrent layers, MMCV's RoIAlign and the attention decoder's
contractions counted; evaluation-only work such as ``rec_on_gt`` left out). JIT tracing follows
every model of the project (spotters, DLD and SKD-only students); a model it cannot follow is an
error, not a partial count.
"""
import time
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import torch
from torch import nn

from mmdld.models.task_modules import count_predict_flops, spotter_parts


def _meta(result: Any, key: str) -> Optional[float]:
    value = result.get(key) if isinstance(result, dict) else getattr(result, key, None)
    return None if value is None else float(value)


def count_inference_flops(model: nn.Module,
                          data_batch: Dict[str, Any],
                          warmup: bool = False) -> Dict[str, Any]:
    """Count the FLOPs of one test step.

    Args:
        model (nn.Module): The model, in eval mode.
        data_batch (dict): A batch from the test dataloader (before the data preprocessor).
        warmup (bool): Run one untraced test step first. Pass True for the first batch: a model
            may do one-off work on the first batch it sees (a DLD student measures its per-scale
            costs), which is not part of its per-image cost.

    Returns:
        dict: ``flops`` (int, the whole batch), ``parts`` (FLOPs per part of the spotter,
        :func:`~mmdld.models.task_modules.spotter_parts`), ``input_shape`` (the preprocessed
        batch's shape), ``dld_gflops`` / ``dld_scale`` (lists, per image, when the model
        reports them) and ``unsupported`` (Counter of the ops counted as zero).

    Raises:
        RuntimeError: If JIT tracing cannot follow the model's test step.
    """
    with torch.no_grad():
        if warmup:
            model.test_step(data_batch)
        data = model.data_preprocessor(data_batch, False)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):  # unbatched inputs: a (1, C, H, W) stack
            inputs = torch.stack(list(inputs))
        count, results = count_predict_flops(model, inputs, data['data_samples'])
    return dict(
        flops=count.total,
        parts=spotter_parts(count),
        input_shape=tuple(inputs.shape),
        dld_gflops=[v for v in (_meta(r, 'dld_gflops') for r in results) if v is not None],
        dld_scale=[v for v in (_meta(r, 'dld_scale') for r in results) if v is not None],
        unsupported=count.unsupported)


def summarize_flops(per_batch: List[Dict[str, Any]], num_images: int) -> Dict[str, Any]:
    """Average the results of :func:`count_inference_flops` per image.

    Args:
        per_batch (list[dict]): One result per batch.
        num_images (int): Images in these batches.

    Returns:
        dict: ``gflops`` (traced, per image), ``parts_gflops`` (per image and part, the
        ``total`` included), ``dld_gflops`` and ``dld_scale`` (averages of what the model
        reports, when it does), ``num_images``, ``input_shapes`` (distinct shapes) and
        ``unsupported_ops``.
    """
    parts: Counter = Counter()
    for item in per_batch:
        parts.update(item.get('parts', {}))
    summary: Dict[str, Any] = dict(
        num_images=num_images,
        gflops=sum(item['flops'] for item in per_batch) / max(num_images, 1) / 1e9,
        parts_gflops={part: flops / max(num_images, 1) / 1e9 for part, flops in parts.items()},
        input_shapes=sorted({item['input_shape'] for item in per_batch}),
        unsupported_ops=dict(sum((item['unsupported'] for item in per_batch), Counter())))
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
