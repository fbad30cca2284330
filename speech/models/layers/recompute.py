"""Activation recomputation (gradient checkpointing) for one layer at a time.

A recurrent layer stores, for its backward pass, every gate and cell state of every frame: for a
bidirectional LSTM with H cells per direction that is several times 8 * H floats per frame, while its
input is only D floats. Wrapped in :func:`maybe_recompute`, a layer keeps only its inputs; the backward
pass runs the layer's forward once more to get the rest back. That trades one extra forward per layer
for most of the activation memory (bench/recompute.py measures both).

torch.utils.checkpoint (non-reentrant) saves and restores the random-number state around the replay,
so a dropout inside the wrapped function draws the same mask twice and gradients equal those of the
stored run.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.checkpoint import checkpoint


def maybe_recompute(fn: Callable[..., torch.Tensor], *args, enabled: bool) -> torch.Tensor:
    """``fn(*args)``, recomputed in the backward pass instead of stored when ``enabled`` and autograd is on.

    ``enabled`` is the caller's switch (its config's ``recompute`` and ``self.training``); under
    ``torch.no_grad`` / ``torch.inference_mode`` nothing is stored anyway, so ``fn`` runs plainly.
    """
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False, preserve_rng_state=True)
    return fn(*args)
