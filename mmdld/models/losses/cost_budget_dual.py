"""gamma of L_DRS as a Lagrange multiplier that steers the average cost to a target."""
import math
from typing import Union

import torch
import torch.nn as nn
from mmengine.dist import all_reduce
from torch import Tensor


class CostBudgetDual(nn.Module):
    """Dual ascent on ``gamma`` so that the mean cost of the chosen scales meets a target.

    Training to a budget is ``min L_acc`` subject to ``E[T_chosen] <= target``. Its Lagrangian
    ``L_acc + gamma * (L_flops - target)`` has, for the selector, the gradient of eq. 4 at
    this ``gamma``; dual ascent raises ``gamma`` while the cost is above the target and lowers
    it while it is below::

        gamma <- clip(gamma + step_size * (running_cost - target), gamma_min, gamma_max)

    ``running_cost`` is the mean of the last ``window`` batch costs (the Gumbel samples make a
    single batch's cost noisy). :meth:`update` takes one batch's cost after its loss is
    computed; the new ``gamma`` applies from the next batch on. In a distributed run the batch
    cost is averaged over the processes first, so every process holds the same ``gamma``.

    The state (``gamma``, the window, the number of updates) is in persistent buffers: a
    checkpoint carries it and a resumed run continues from it.

    Ours because MMEngine's parameter schedulers follow fixed schedules, not a constraint.

    Args:
        target_cost (float): The target mean cost, in the unit of the costs it is given
            (``T_i``: relative to the teacher at full resolution), > 0.
        gamma_init (float): ``gamma`` before the first update. Defaults to 0.1 (the paper's
            fixed ``gamma``).
        step_size (float): Dual step: change of ``gamma`` per update and unit of cost excess.
            Defaults to 0.1.
        window (int): Number of recent batch costs averaged into ``running_cost``.
            Defaults to 20.
        gamma_min (float): Lower bound of ``gamma``, >= 0. Defaults to 0.
        gamma_max (float): Upper bound of ``gamma``. Defaults to 100.
    """

    def __init__(self,
                 target_cost: float,
                 gamma_init: float = 0.1,
                 step_size: float = 0.1,
                 window: int = 20,
                 gamma_min: float = 0.,
                 gamma_max: float = 100.) -> None:
        super().__init__()
        name = type(self).__name__
        if not (math.isfinite(target_cost) and target_cost > 0):
            raise ValueError(f'{name}: `target_cost` must be a finite cost > 0, got '
                             f'{target_cost}')
        if not (math.isfinite(step_size) and step_size > 0):
            raise ValueError(f'{name}: `step_size` must be > 0, got {step_size}')
        if int(window) != window or window < 1:
            raise ValueError(f'{name}: `window` must be an integer >= 1, got {window}')
        if not (0 <= gamma_min <= gamma_max and math.isfinite(gamma_max)):
            raise ValueError(f'{name}: the bounds must satisfy 0 <= `gamma_min` <= `gamma_max` '
                             f'< inf, got gamma_min={gamma_min}, gamma_max={gamma_max}')
        if not gamma_min <= gamma_init <= gamma_max:
            raise ValueError(f'{name}: `gamma_init` {gamma_init} must lie in [gamma_min, '
                             f'gamma_max] = [{gamma_min}, {gamma_max}]')
        self.target_cost = float(target_cost)
        self.step_size = float(step_size)
        self.window = int(window)
        self.gamma_min = float(gamma_min)
        self.gamma_max = float(gamma_max)
        self.register_buffer('gamma', torch.tensor(float(gamma_init), dtype=torch.float64))
        self.register_buffer('recent_costs', torch.zeros(self.window, dtype=torch.float64))
        self.register_buffer('num_updates', torch.tensor(0, dtype=torch.int64))

    @property
    def gamma_value(self) -> float:
        """float: The current ``gamma``."""
        return float(self.gamma)

    @property
    def running_cost(self) -> float:
        """float: Mean of the last ``window`` batch costs (NaN before the first update)."""
        filled = min(int(self.num_updates), self.window)
        if filled == 0:
            return float('nan')
        return float(self.recent_costs[:filled].mean())

    @torch.no_grad()
    def update(self, batch_cost: Union[Tensor, float]) -> float:
        """Records one batch's mean cost and takes one dual step.

        Args:
            batch_cost (Tensor | float): The batch's mean cost of the chosen scales (a scalar).

        Returns:
            float: The new ``gamma``.
        """
        cost = torch.as_tensor(batch_cost, dtype=torch.float64, device=self.gamma.device)
        cost = cost.detach().reshape(()).clone()
        if not bool(torch.isfinite(cost)):
            raise ValueError(f'{type(self).__name__}: the batch cost is {float(cost)}')
        all_reduce(cost, op='mean')  # a no-op outside distributed runs
        slot = int(self.num_updates) % self.window
        self.recent_costs[slot] = cost
        self.num_updates += 1
        excess = self.running_cost - self.target_cost
        self.gamma.fill_(min(max(self.gamma_value + self.step_size * excess, self.gamma_min),
                             self.gamma_max))
        return self.gamma_value

    def extra_repr(self) -> str:
        return (f'target_cost={self.target_cost}, step_size={self.step_size}, '
                f'window={self.window}, gamma in [{self.gamma_min}, {self.gamma_max}]')
