"""Tasks map a batch to losses (training) and to summable statistics (validation).

The Trainer knows nothing about speech: a task owns the loss function and the metric.
"""
from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from speech.decoding import ctc_greedy_decode, error_stats


class Task(Protocol):
    """Interface the :class:`~speech.train.Trainer` drives."""

    monitor: str
    """Validation metric used to rank checkpoints (lower is better)."""

    def training_step(self, model: nn.Module, batch) -> dict[str, torch.Tensor]:
        """Forward + loss on one batch; must return ``{"loss": scalar, ...}`` (extra entries are logged)."""

    def validation_step(self, model: nn.Module, batch) -> dict[str, float]:
        """Statistics of one batch that add up over batches and processes (counts and sums)."""

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """Turn the summed statistics into metrics (must include ``monitor``)."""


class CTCTask:
    """CTC training of an acoustic model; validation by greedy decoding with WER and CER."""

    monitor = "wer"

    def __init__(self, loss: nn.Module, tokenizer):
        self.loss = loss
        self.tokenizer = tokenizer

    def training_step(self, model: nn.Module, batch) -> dict[str, torch.Tensor]:
        """batch: AsrBatch with feats (B, T, F), tokens (B, S) -> {"loss": mean CTC loss per utterance}."""
        log_probs, lens = model(batch.feats, batch.feat_lens)
        return {"loss": self.loss(log_probs, lens, batch.tokens, batch.token_lens)}

    @torch.no_grad()
    def validation_step(self, model: nn.Module, batch) -> dict[str, float]:
        log_probs, lens = model(batch.feats, batch.feat_lens)
        per_utt = self.loss.__class__(blank=self.loss.blank, reduction="none", zero_infinity=True, impl=self.loss.impl)
        loss = per_utt(log_probs, lens, batch.tokens, batch.token_lens)
        hyps = [self.tokenizer.decode(ids) for ids in ctc_greedy_decode(log_probs, lens, blank=self.tokenizer.blank_id)]
        w = error_stats(batch.texts, hyps, "word")
        c = error_stats(batch.texts, hyps, "char")
        return {"loss_sum": float(loss.sum()), "utts": len(hyps), "word_errors": w.errors, "words": w.reference_length,
                "char_errors": c.errors, "chars": c.reference_length}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {
            "loss": sums["loss_sum"] / max(sums["utts"], 1),
            "wer": sums["word_errors"] / max(sums["words"], 1),
            "cer": sums["char_errors"] / max(sums["chars"], 1),
        }
