"""Decay of the Gumbel-softmax temperature of the Dynamic Resolution Selector (paper §3.3)."""
from typing import Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop

from mmdld.registry import HOOKS

DATA_BATCH = Optional[dict]


@HOOKS.register_module()
class GumbelTemperatureHook(Hook):
    """Sets ``tau = tau_init * sigma ** step`` on the selector before each training epoch.

    ``step`` is ``runner.epoch`` (``by_epoch=True``, the paper's schedule) or
    ``runner.iter // interval`` (``by_epoch=False``, for iteration-based training). Both come
    from the runner, so the value is right after ``resume`` without any state in the hook. The
    temperature is written to the selector's ``temperature`` attribute, announced in the log
    when it changes, and recorded every iteration as the ``train/gumbel_tau`` scalar, which the
    logger prints with the losses.

    ``by_epoch=True`` needs an epoch-based training loop: under ``IterBasedTrainLoop``
    ``runner.epoch`` stays 0 and tau would stay ``tau_init`` for the whole run, so
    :meth:`before_run` refuses that combination.

    Ours because MMEngine's parameter schedulers schedule optimizer settings, not module attributes.

    Args:
        tau_init (float): Temperature at step 0. Defaults to 5.0 (paper §4.1).
        sigma (float): Decay factor per step. Defaults to 0.965 (paper §4.1).
        by_epoch (bool): Count steps in epochs (True) or in blocks of ``interval`` iterations.
            Defaults to True.
        interval (int): Iterations per step when ``by_epoch=False``. Defaults to 1.
        selector_path (str, optional): Dotted path of the module whose ``temperature`` is set,
            from the (unwrapped) model, e.g. ``'selector'``. By default the model's only
            :class:`~mmdld.models.DynamicResolutionSelector` is used.
    """

    priority = 'NORMAL'

    def __init__(self,
                 tau_init: float = 5.0,
                 sigma: float = 0.965,
                 by_epoch: bool = True,
                 interval: int = 1,
                 selector_path: Optional[str] = None) -> None:
        if not tau_init > 0:
            raise ValueError(f'GumbelTemperatureHook: `tau_init` must be > 0, got {tau_init}')
        if not sigma > 0:
            raise ValueError(f'GumbelTemperatureHook: `sigma` must be > 0, got {sigma}')
        if int(interval) < 1:
            raise ValueError(f'GumbelTemperatureHook: `interval` must be >= 1, got {interval}')
        self.tau_init = float(tau_init)
        self.sigma = float(sigma)
        self.by_epoch = by_epoch
        self.interval = int(interval)
        self.selector_path = selector_path
        self._last_logged: Optional[float] = None

    def temperature_at(self, step: int) -> float:
        """Returns ``tau_init * sigma ** step``."""
        return self.tau_init * self.sigma**step

    def before_run(self, runner) -> None:
        """Refuses ``by_epoch=True`` under an iteration-based training loop.

        Runs before training, validation and testing; only a training loop that the runner
        has built (``runner.train()`` builds it before this hook) is checked.
        """
        loop = getattr(runner, '_train_loop', None)
        if self.by_epoch and isinstance(loop, IterBasedTrainLoop):
            raise ValueError(
                'GumbelTemperatureHook: `by_epoch=True` decays tau once per epoch, but the '
                f'training loop is {type(loop).__name__}, whose epoch stays 0, so tau would '
                f'stay tau_init={self.tau_init:g} for the whole run. Set `by_epoch=False` (and '
                "`interval`, iterations per decay step) in the hook's config, or train by "
                "epochs: `train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=...)` (or "
                "`train_cfg=dict(by_epoch=True, max_epochs=...)`)")

    def before_train_epoch(self, runner) -> None:
        """Sets the epoch's temperature (epoch-based schedule)."""
        if self.by_epoch:
            self._apply(runner, runner.epoch)

    def before_train_iter(self, runner, batch_idx: int, data_batch: DATA_BATCH = None) -> None:
        """Sets the temperature (iteration schedule) and records it for the logger."""
        step = runner.epoch if self.by_epoch else runner.iter // self.interval
        tau = self._apply(runner, step)
        runner.message_hub.update_scalar('train/gumbel_tau', tau)

    def _apply(self, runner, step: int) -> float:
        tau = self.temperature_at(step)
        self._find_selector(runner.model).temperature = tau
        if tau != self._last_logged:
            unit = 'epoch' if self.by_epoch else f'step of {self.interval} iterations'
            runner.logger.info(f'Gumbel-softmax temperature tau = {tau:.6g} ({unit} {step})')
            self._last_logged = tau
        return tau

    def _find_selector(self, model: nn.Module) -> nn.Module:
        if is_model_wrapper(model):
            model = model.module
        if self.selector_path is not None:
            module = model
            for name in self.selector_path.split('.'):
                if not hasattr(module, name):
                    raise AttributeError(
                        f'GumbelTemperatureHook: `selector_path={self.selector_path!r}`: '
                        f'{type(module).__name__} has no attribute {name!r}')
                module = getattr(module, name)
            if not hasattr(module, 'temperature'):
                raise AttributeError(
                    f'GumbelTemperatureHook: `selector_path={self.selector_path!r}` points to '
                    f'a {type(module).__name__}, which has no `temperature` attribute')
            return module
        # Imported here: the hook module must not import the models package at load time.
        from mmdld.models.selectors import DynamicResolutionSelector
        found = [(name, m) for name, m in model.named_modules()
                 if isinstance(m, DynamicResolutionSelector)]
        if len(found) != 1:
            names = [name or '<model>' for name, _ in found]
            raise RuntimeError(
                f'GumbelTemperatureHook: expected exactly one DynamicResolutionSelector in '
                f'{type(model).__name__}, found {len(found)} {names}; set `selector_path`')
        return found[0][1]
