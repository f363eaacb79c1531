"""Learning-rate schedule used by the CLAP recipes: linear warm-up, cosine decay.

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Optional

import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


@register_checkpoint_hooks
class WarmupCosineSchedule:
    """Linear warm-up to ``lr`` then cosine decay to ``lr * final_ratio``.

    Call it once per optimiser step; each group's rate is this value times its
    ``lr_scale`` (default 1). The step count and :meth:`settings` are
    checkpointed; the loaded settings stay in ``checkpoint_settings`` so the
    trainer can refuse a resume that would change the curve.

    Arguments
    ---------
    lr : float
        Peak learning rate.
    warmup_steps : int
        Steps of linear warm-up.
    total_steps : int or None
        Steps until the end of the decay; ``None``: ``CLAPBrain`` sets it from
        its training loader and epoch count (:meth:`set_total_steps`).
    final_ratio : float
        Final learning rate as a fraction of ``lr``.

    Example
    -------
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = WarmupCosineSchedule(1.0, warmup_steps=2, total_steps=4)
    >>> [round(sched(opt), 3) for _ in range(5)]
    [0.5, 1.0, 0.5, 0.0, 0.0]
    >>> later = WarmupCosineSchedule(1.0, warmup_steps=2, total_steps=None)
    >>> later.set_total_steps(2 * 2)  # steps per epoch x epochs
    >>> later.total_steps
    4
    """

    def __init__(
        self,
        lr: float,
        warmup_steps: int,
        total_steps: Optional[int],
        final_ratio: float = 0.0,
    ):
        self.lr = lr
        self.warmup_steps = max(int(warmup_steps), 0)
        self.total_steps = None
        if total_steps is not None:
            self.set_total_steps(total_steps)
        self.final_ratio = final_ratio
        self.n_steps = 0

    def set_total_steps(self, total_steps: int):
        """Fix the length of the decay (at least one step past the warm-up).

        Arguments
        ---------
        total_steps : int
            Steps until the end of the decay.
        """
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)

    def value(self, step: int) -> float:
        """Learning rate after ``step`` optimiser steps.

        Arguments
        ---------
        step : int
            Number of steps taken (1-based).

        Returns
        -------
        float
            The learning rate.
        """
        if step <= self.warmup_steps:
            return self.lr * step / max(self.warmup_steps, 1)
        if self.total_steps is None:
            raise RuntimeError(
                "WarmupCosineSchedule: total_steps is unknown; give it in the YAML "
                "or train with CLAPBrain, which sets it from the training loader"
            )
        progress = min(
            (step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 1.0
        )
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.lr * (self.final_ratio + (1 - self.final_ratio) * cosine)

    def __call__(self, optimizer: torch.optim.Optimizer) -> float:
        """Advance one step and set the rate of every parameter group.

        Arguments
        ---------
        optimizer : torch.optim.Optimizer
            The optimiser to update.

        Returns
        -------
        float
            The new learning rate.
        """
        self.n_steps += 1
        lr = self.value(self.n_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def settings(self) -> dict:
        """``lr``, ``warmup_steps``, ``total_steps`` and ``final_ratio``.

        Returns
        -------
        dict
            Name -> value.
        """
        return {k: getattr(self, k) for k in ("lr", "warmup_steps", "total_steps", "final_ratio")}

    @mark_as_saver
    def _save(self, path):
        torch.save({"n_steps": self.n_steps, "settings": self.settings()}, path)

    @mark_as_loader
    def _load(self, path, end_of_epoch=False):
        state = torch.load(path, weights_only=True)
        self.n_steps = int(state["n_steps"])
        self.checkpoint_settings = state.get("settings")  # None: an older checkpoint
