"""Learning-rate schedules: linear warmup then decay, and the linear scaling rule."""
from __future__ import annotations

import math

import torch


def scaled_lr(base_lr: float, global_batch: int, reference_batch: int) -> float:
    """Linear scaling rule (Goyal et al., 2017): the learning rate grows with the global batch.

    ``base_lr`` is tuned for ``reference_batch`` utterances per step; 0 disables scaling.
    """
    if reference_batch <= 0:
        return base_lr
    return base_lr * global_batch / reference_batch


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str, final_ratio: float) -> float:
    """Multiplier on the peak learning rate at optimizer step ``step`` (0-based).

    Gradual warmup: linear from 1/warmup to 1 over ``warmup_steps``; then ``constant``,
    ``linear`` or ``cosine`` decay to ``final_ratio`` at ``total_steps``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "linear":
        return 1.0 - (1.0 - final_ratio) * progress
    if schedule == "cosine":
        return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"trainer.schedule: unknown schedule {schedule!r}; expected constant, linear or cosine")


def warmup_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, schedule: str = "cosine",
                 final_ratio: float = 0.05) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR over :func:`lr_factor` (its state_dict holds only the step count)."""
    lr_factor(0, warmup_steps, total_steps, schedule, final_ratio)  # validate the name now
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps, schedule, final_ratio)
    )
