"""Vocal tract length normalization (VTLN) at test time: one warp factor for one speaker, found without
transcripts.

A recognizer trained on a few voices reads an unheard one better when that voice's spectrum is first
stretched or squeezed toward the voices it knows (a longer vocal tract puts every formant lower). The
classic estimate picks, from a grid, the warp under which the model explains the speaker's audio best.
Here the model is a CTC recognizer and the task a closed vocabulary (digits, commands): for every clip,
each candidate text's CTC log-likelihood is computed under each warp, and the warp kept is the one
with the largest mean margin between the best and the second-best candidate, i.e. the warp under
which the model is most decisive about that speaker's words. Nothing but the speaker's audio is used.

Use the estimate with ``Transcriber(package, warp=estimate.warp)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from speech.features import log_mel
from speech.features.channel import is_warp, warp_logmel
from speech.packages.asr import AsrPackage

__all__ = ["DEFAULT_WARPS", "WarpEstimate", "candidate_margin", "estimate_warp"]

DEFAULT_WARPS = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
"""The grid searched by default: +-15% in steps of 5%, about the spread of adult vocal tract lengths."""


@dataclass
class WarpEstimate:
    """The chosen ``warp``, the mean margin (nats) of every warp tried, and how many clips were scored
    (clips too short for two of the candidates are left out)."""

    warp: float
    scores: dict[float, float] = field(default_factory=dict)
    clips: int = 0


def candidate_margin(log_probs: torch.Tensor, targets: Sequence[torch.Tensor], blank: int = 0) -> float | None:
    """CTC log-likelihood of the best of ``targets`` minus that of the second best, for one clip's
    ``log_probs`` (T, V). None when fewer than two targets fit in T frames."""
    if len(targets) < 2:
        raise ValueError(f"candidate_margin: {len(targets)} candidate(s); the margin needs at least two")
    T, n = log_probs.shape[0], len(targets)
    flat = torch.cat([t.long() for t in targets])
    lengths = torch.tensor([len(t) for t in targets])
    lp = log_probs.float().unsqueeze(1).expand(T, n, log_probs.shape[-1])
    nll = F.ctc_loss(lp, flat, torch.full((n,), T), lengths, blank=blank, reduction="none", zero_infinity=False)
    scores = (-nll).double()
    finite = scores[torch.isfinite(scores)]
    if finite.numel() < 2:
        return None
    top = finite.topk(2).values
    return float(top[0] - top[1])


@torch.inference_mode()
def estimate_warp(package: AsrPackage, wavs: Sequence[np.ndarray], candidates: Sequence[str],
                  warps: Sequence[float] = DEFAULT_WARPS, batch_size: int = 32,
                  progress: bool = False) -> WarpEstimate:
    """The warp of ``warps`` under which ``package``'s model separates the best of ``candidates`` from
    the rest most clearly, on average over ``wavs`` (one speaker's clips, mono float arrays at the
    package's sample rate). Ties go to the warp nearest 1.0.

    Raises:
        ValueError: fewer than two candidates, a candidate the model's vocabulary cannot spell, no warps
            or a warp outside 0.5-2.0, or no clip long enough to score.
    """
    if len(candidates) < 2:
        raise ValueError(f"estimate_warp: {len(candidates)} candidate text(s); expected at least two")
    if not warps or not all(is_warp(a) for a in warps):
        raise ValueError(f"estimate_warp: warps {list(warps)}; expected one or more factors from 0.5 to 2.0")
    warps = [float(a) for a in warps]
    tok = package.tokenizer
    targets = []
    for text in candidates:
        try:
            ids = tok.encode(text)
        except Exception as e:  # the tokenizer names the character; add which candidate it was
            raise ValueError(f"estimate_warp: candidate {text!r}: {e}") from None
        if not ids:
            raise ValueError(f"estimate_warp: candidate {text!r} is empty")
        targets.append(torch.tensor(ids))
    package.model.eval()
    device = next(package.model.parameters()).device
    feats = [log_mel(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), package.fbank) for w in wavs]
    feats = [f for f in feats if f.shape[0] > 0]
    # a warp moves energy between bands, never frames: which clips can hold two candidates is the same at every warp
    margins: dict[float, list[float]] = {a: [] for a in warps}
    bar = tqdm(total=len(warps) * len(feats), unit="clip", desc="vtln", disable=not progress)
    for a in warps:
        for s in range(0, len(feats), batch_size):
            chunk = [warp_logmel(f, package.fbank, a) if a != 1.0 else f for f in feats[s:s + batch_size]]
            log_probs, out_lens = package.log_probs(chunk, device)
            for lp, n in zip(log_probs.cpu(), out_lens.cpu()):
                m = candidate_margin(lp[: int(n)], targets, blank=tok.blank_id)
                if m is not None:
                    margins[a].append(m)
            bar.update(len(chunk))
    bar.close()
    scored = len(margins[warps[0]])
    if scored == 0:
        raise ValueError(f"estimate_warp: none of the {len(wavs)} clip(s) is long enough to score two candidates")
    scores = {a: sum(m) / len(m) for a, m in margins.items()}
    best = max(warps, key=lambda a: (scores[a], -abs(a - 1.0)))
    return WarpEstimate(warp=best, scores=scores, clips=scored)
