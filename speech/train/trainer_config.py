"""The trainer's settings (config group ``trainer/``), what a run returns, and the device it runs on.

:class:`TrainerConfig`, :class:`FitResult` and :func:`resolve_device` are also importable from
:mod:`speech.train.trainer`, the module that uses them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from speech.config import GE0, GE1, check_ranges, rule
from speech.device import parse_device
from speech.device import resolve_device as _resolve_device

__all__ = ["FitResult", "TrainerConfig", "resolve_device"]


@dataclass
class TrainerConfig:
    """Optimization and bookkeeping settings (config group ``trainer/``)."""

    max_epochs: int = 20
    """Passes over the training set."""
    max_steps: int = 0
    """Stop after this many optimizer steps (0 = no limit besides max_epochs); also sets the schedule length."""
    lr: float = 1e-3
    """Peak learning rate for ``reference_batch`` utterances per step."""
    reference_batch: int = 0
    """Linear scaling rule: peak lr = lr x global_batch / reference_batch (0 = use lr as given)."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay (not applied to biases and 1-D parameters)."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    warmup_steps: int = 200
    """Gradual warmup: the learning rate rises linearly over this many steps."""
    schedule: str = "cosine"
    """Decay after warmup: constant, linear or cosine."""
    final_lr_ratio: float = 0.05
    """Learning rate at the last step as a fraction of the peak."""
    grad_clip: float = 5.0
    """Clip the global gradient norm to this value (0 = off)."""
    accumulate_grad_batches: int = 1
    """Batches whose gradients are summed before each optimizer step."""
    precision: str = "fp32"
    """fp32, bf16 or fp16 (mixed precision with autocast; only used on CUDA)."""
    device: str = "auto"
    """auto (CUDA when available), cpu, cuda or cuda:N."""
    log_every: int = 20
    """Log training scalars every this many steps."""
    val_every_steps: int = 0
    """Validate every this many steps (0 = at the end of each epoch)."""
    checkpoint_every_steps: int = 200
    """Write checkpoints/last.pt every this many steps (and always at the end of an epoch and of training)."""
    keep_best: int = 3
    """Keep this many best checkpoints by the validation metric."""
    average_best: int = 0
    """The model written at the end: 0 or 1, the best checkpoint; N > 1, the element-wise mean of the
    weights of the N best checkpoints (at most keep_best) and the last one: a cheap ensemble of
    nearby points of one run, usually a little more accurate than any of them."""
    seed: int = 0
    """Seed for model initialization, data order and augmentation."""
    num_threads: int = 0
    """CPU threads per process for torch (intra-op) and the numba kernels alike (0 = their defaults)."""
    progress: bool = True
    """Show tqdm progress bars."""

    SCHEDULES = ("constant", "linear", "cosine")

    def __post_init__(self) -> None:
        """Range checks; each message names the field as ``trainer.<field>`` (the config key)."""
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"trainer.precision: {self.precision!r} is not a precision; expected fp32, bf16 or fp16")
        if self.schedule not in self.SCHEDULES:
            raise ValueError(f"trainer.schedule: {self.schedule!r} is not a schedule; expected "
                             f"{', '.join(self.SCHEDULES)}")
        if self.device != "auto":  # the name only: a GPU config composes on a CPU machine
            parse_device(self.device, key="trainer.device")
        counts = ("max_epochs", "max_steps", "reference_batch", "warmup_steps", "val_every_steps",
                  "checkpoint_every_steps", "keep_best", "average_best", "num_threads", "seed")
        check_ranges("trainer", self, **dict.fromkeys(counts, GE0), accumulate_grad_batches=GE1, log_every=GE1,
                     lr=rule(lambda v: v > 0 and math.isfinite(v), "a number > 0, e.g. 1e-3"),
                     eps=rule(lambda v: v > 0, "> 0, e.g. 1e-8"),
                     weight_decay=rule(lambda v: v >= 0 and math.isfinite(v), ">= 0"),
                     grad_clip=rule(lambda v: v >= 0, ">= 0 (0 = off)"),
                     final_lr_ratio=rule(lambda v: 0 <= v <= 1, "a fraction in [0, 1]"),
                     betas=rule(lambda v: len(v) == 2 and all(0 <= b < 1 for b in v),
                                "two numbers in [0, 1), e.g. [0.9, 0.98]"))
        if self.average_best > max(self.keep_best, 1):
            raise ValueError(f"trainer.average_best: {self.average_best} is more than trainer.keep_best "
                             f"({self.keep_best}) keeps; expected at most keep_best")
        if self.max_epochs < 1 and self.max_steps < 1:
            raise ValueError("trainer.max_epochs: 0 and trainer.max_steps: 0 leave nothing to train; expected "
                             "max_epochs >= 1 or max_steps >= 1")


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` produced."""

    last_checkpoint: Path
    best_checkpoint: Path | None
    best_metric: float | None
    steps: int
    epochs_completed: int
    seconds: float
    """Training wall time of the whole run: a resumed run adds its time to the checkpoint's."""
    history: dict = field(default_factory=dict)
    monitor: str = ""
    """The dev metric ``best_metric`` is (the task's ``monitor``, e.g. ``wer``)."""
    best_ranking: list = field(default_factory=list)
    """The kept best checkpoints (paths), best first."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``trainer.device`` -> a torch device; ``auto`` picks CUDA when there is one.

    Raises:
        DeviceError: one line when the device named is not on this machine (CUDA missing, or fewer GPUs).
    """
    return _resolve_device(name, local_rank, key="trainer.device")
