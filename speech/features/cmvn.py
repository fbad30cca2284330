"""Global cepstral mean and variance normalisation (CMVN) of feature frames.

:func:`compute_cmvn_stats` accumulates per-dimension mean and standard deviation over a corpus
(float64, numerically stable chunk merging); :class:`GlobalCMVN` applies them and keeps them as
buffers so they travel in the model's ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["GlobalCMVN", "compute_cmvn_stats", "STD_FLOOR"]

#: Smallest standard deviation used for normalisation (avoids dividing by ~0 for constant dims).
STD_FLOOR = 1e-5


def _as_float64_numpy(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def compute_cmvn_stats(feats: Iterable[Tensor | np.ndarray]) -> tuple[Tensor, Tensor]:
    """Per-dimension mean and standard deviation over all frames of all utterances.

    Args:
        feats: utterances, each ``(T, F)`` (tensor on any device, or numpy array). Utterances with
            ``T == 0`` are skipped. Consumed once, so a generator over a large corpus is fine.

    Returns:
        ``(mean, std)``, each float32 ``(F,)``: the mean and population standard deviation
        (``ddof=0``) of the concatenated frames, ``std`` floored at ``STD_FLOOR`` (1e-5).

    Raises:
        ValueError: no frames at all, an item that is not 2-D, or differing ``F``.
    """
    count = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None  # sum of squared deviations from the running mean
    for i, item in enumerate(feats):
        x = _as_float64_numpy(item)
        if x.ndim != 2:
            raise ValueError(f"compute_cmvn_stats: item {i} has shape {x.shape}; expected (T, F)")
        if mean is not None and x.shape[1] != mean.shape[0]:
            raise ValueError(f"compute_cmvn_stats: item {i} has {x.shape[1]} features; expected "
                             f"{mean.shape[0]} like the items before it")
        n = x.shape[0]
        if n == 0:
            continue
        x_mean = x.mean(axis=0)
        x_m2 = ((x - x_mean) ** 2).sum(axis=0)
        if mean is None or m2 is None:
            count, mean, m2 = n, x_mean, x_m2
            continue
        # Chan et al. pairwise merge of (count, mean, M2).
        total = count + n
        delta = x_mean - mean
        mean = mean + delta * (n / total)
        m2 = m2 + x_m2 + delta**2 * (count * n / total)
        count = total
    if mean is None or m2 is None or count == 0:
        raise ValueError("compute_cmvn_stats: no frames; expected at least one (T, F) item with T > 0")
    std = np.sqrt(m2 / count)
    std = np.maximum(std, STD_FLOOR)
    return torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32))


class GlobalCMVN(nn.Module):
    """``(x - mean) / std`` per feature dimension, with padded frames set to 0.

    ``mean`` and ``std`` are persistent buffers (``(F,)`` float32, in the ``state_dict``), defaulting
    to 0 and 1 (identity) until :meth:`set_stats` or a checkpoint fills them.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, num_features: int, mean: Tensor | np.ndarray | None = None,
                 std: Tensor | np.ndarray | None = None):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"GlobalCMVN: num_features={num_features}; expected > 0")
        self.num_features = int(num_features)
        self.register_buffer("mean", torch.zeros(self.num_features))
        self.register_buffer("std", torch.ones(self.num_features))
        if mean is not None or std is not None:
            self.set_stats(mean if mean is not None else self.mean,
                           std if std is not None else self.std)

    def _checked(self, name: str, value: Tensor | np.ndarray) -> Tensor:
        t = torch.as_tensor(value).detach().to(dtype=torch.float32)
        if t.shape != (self.num_features,):
            raise ValueError(f"GlobalCMVN.{name} has shape {tuple(t.shape)}; expected "
                             f"({self.num_features},)")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"GlobalCMVN.{name} has non-finite values; expected finite statistics")
        return t

    @torch.no_grad()
    def set_stats(self, mean: Tensor | np.ndarray, std: Tensor | np.ndarray) -> None:
        """Replace the statistics (each ``(F,)``); ``std`` is floored at ``STD_FLOOR``."""
        m = self._checked("mean", mean)
        s = self._checked("std", std).clamp_min(STD_FLOOR)
        self.mean.copy_(m.to(self.mean.device))
        self.std.copy_(s.to(self.std.device))

    def forward(self, x: Tensor, x_lens: Tensor | None = None) -> Tensor:
        """
        Args:
            x: features ``(B, T, F)`` (or any ``(..., F)`` when ``x_lens`` is None).
            x_lens: ``(B,)`` numbers of valid frames; frames ``t >= x_lens[b]`` come out as 0.

        Returns:
            normalised features, same shape and dtype as ``x``.
        """
        if x.shape[-1] != self.num_features:
            raise ValueError(f"GlobalCMVN: input has {x.shape[-1]} features; expected {self.num_features}")
        y = ((x - self.mean) / self.std).to(x.dtype)
        if x_lens is not None:
            if x.dim() != 3:
                raise ValueError(f"GlobalCMVN: with x_lens expected x of shape (B, T, F), got {tuple(x.shape)}")
            t = torch.arange(x.shape[1], device=x.device)
            pad = t[None, :] >= x_lens.to(x.device)[:, None]
            y = y.masked_fill(pad[..., None], 0.0)
        return y

    def inverse(self, y: Tensor) -> Tensor:
        """Undo the normalisation: ``y * std + mean`` for ``(..., F)`` features (e.g. TTS output)."""
        return (y * self.std + self.mean).to(y.dtype)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}"
