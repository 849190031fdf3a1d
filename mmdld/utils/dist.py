"""CPU-only distributed runs (gloo) through MMEngine's launchers.

MMEngine 0.10.7's ``init_dist(launcher='pytorch')`` calls ``torch.cuda.set_device`` before it
creates the process group, and ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to DDP;
both fail on a machine without CUDA. On such a machine :func:`setup_cpu_distributed` creates the
gloo process group from torchrun's environment variables itself (the Runner then sees an
initialised group and skips ``init_dist``) and gives DDP ``device_ids=None``, which is what DDP
expects for CPU modules. It also sets ``env_cfg.dist_cfg.backend`` to the backend of the group,
so that the Runner's environment dump and the config dump in the log name the backend the run
really uses (the runtime base says ``nccl``, the backend of GPU runs). With CUDA, nothing
changes. :func:`close_distributed` destroys the group at the end of a run: left open, gloo's
worker threads can abort the interpreter at exit after a finished run.
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import is_distributed


def setup_cpu_distributed(cfg: Config) -> None:
    """Prepares ``cfg`` and the process group for a distributed run without CUDA.

    Args:
        cfg (Config): The run's config; ``cfg.launcher`` must already be set.

    Raises:
        RuntimeError: For a non-``pytorch`` launcher on a machine without CUDA.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'launcher={cfg.launcher!r} needs CUDA; on CPU-only machines launch with '
            'torchrun and launcher=pytorch (gloo backend).')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    env_cfg = dict(cfg.get('env_cfg') or {})
    env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {},
                               backend=str(torch_dist.get_backend()))
    cfg.env_cfg = env_cfg
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def close_distributed() -> None:
    """Destroys the default process group of a finished run, if there is one."""
    if is_distributed():
        torch_dist.destroy_process_group()
