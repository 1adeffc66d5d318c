"""The optimizer (SGD by default; Adam/AdamW by name) and its learning-rate schedule: linear warm-up, then x``gamma`` at epoch milestones.

The schedule is a function of the optimizer step, so it is exact on resume (the scheduler's state
is only its step count). Warm-up goes linearly from ``warmup_factor * lr`` to ``lr`` over
``warmup_iters`` steps (MP3D: 500 steps from lr/3); after each milestone epoch the rate is
multiplied by ``gamma`` (2x: after epochs 16 and 22 of 24).

Weight decay applies to every parameter, as in the authors' mmdetection config (no per-parameter
exceptions).

Example:
    >>> f = lr_factor_fn(warmup_iters=4, warmup_factor=0.25, milestone_steps=[10], gamma=0.1)
    >>> [round(f(s), 4) for s in (0, 2, 4, 9, 10)]
    [0.25, 0.625, 1.0, 1.0, 0.1]
"""
from __future__ import annotations

import bisect
from collections.abc import Callable

import torch


def lr_factor_fn(warmup_iters: int, warmup_factor: float, milestone_steps: list[int],
                 gamma: float) -> Callable[[int], float]:
    """The multiplier of the base rate at optimizer step ``s`` (0-based).

    Example:
        >>> lr_factor_fn(0, 1.0, [2, 4], 0.1)(5)
        0.010000000000000002
    """
    milestones = sorted(int(m) for m in milestone_steps)

    def factor(step: int) -> float:
        decay = gamma ** bisect.bisect_right(milestones, step)
        if step < warmup_iters:
            alpha = step / float(warmup_iters)
            return decay * (warmup_factor * (1 - alpha) + alpha)
        return decay

    return factor


OPTIMIZERS = ("sgd", "adam", "adamw")
"""Names accepted by :func:`build_optimizer` (``optim.optimizer`` in a config)."""


def build_optimizer(model: torch.nn.Module, lr: float, momentum: float, weight_decay: float,
                    name: str = "sgd") -> torch.optim.Optimizer:
    """SGD (the paper's; ``momentum`` applies), Adam or AdamW over the trainable parameters.

    Example:
        >>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GroupNorm(1, 2))
        >>> opt = build_optimizer(m, 0.1, 0.9, 1e-4)
        >>> opt.param_groups[0]["weight_decay"], len(opt.param_groups[0]["params"])
        (0.0001, 4)
        >>> type(build_optimizer(m, 1e-3, 0.9, 0.0, name="adamw")).__name__
        'AdamW'
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optim.optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_iters: int, warmup_factor: float,
                    milestone_epochs: list[int], steps_per_epoch: int, gamma: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` for the warm-up + milestone schedule.

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = build_scheduler(opt, 0, 1.0, [1], steps_per_epoch=2, gamma=0.1)
        >>> lrs = []
        >>> for _ in range(3):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> [round(v, 3) for v in lrs]
        [1.0, 1.0, 0.1]
    """
    milestones = [int(e) * int(steps_per_epoch) for e in milestone_epochs]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor_fn(warmup_iters, warmup_factor, milestones, gamma))
