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

    # Optional members:
    #   discriminator: nn.Module -- makes the run adversarial: the Trainer gives it its own AdamW and
    #       schedule (the trainer settings) and checkpoints both; on every batch it first calls
    #       discriminator_step(model, discriminator, batch) -> {"loss": ...} (DDP-wrapped discriminator
    #       when distributed) and steps the discriminator, then training_step for the model (generator).
    #       discriminator_step may return None: no discriminator update on that batch (its schedule
    #       still advances), e.g. while a vocoder's generator is pre-trained on its mel loss alone.
    #   set_step(step) -- called before every batch with the number of optimizer steps done.
    #   log_tensorboard(writer, model, dev_set, step) -- called after each validation (audio, images).


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
        return {"loss_sum": float(loss.sum()), **decode_stats(log_probs, lens, batch.texts, self.tokenizer)}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return error_metrics(sums)


def decode_stats(log_probs: torch.Tensor, lens: torch.Tensor, refs: list[str], tokenizer) -> dict[str, float]:
    """Greedy-decode (B, T, V) log-probs (repeats merged, blanks dropped) and count word/char errors."""
    hyps = [tokenizer.decode(ids) for ids in ctc_greedy_decode(log_probs, lens, blank=tokenizer.blank_id)]
    w = error_stats(refs, hyps, "word")
    c = error_stats(refs, hyps, "char")
    return {"utts": len(hyps), "word_errors": w.errors, "words": w.reference_length,
            "char_errors": c.errors, "chars": c.reference_length}


def error_metrics(sums: dict[str, float]) -> dict[str, float]:
    return {
        "loss": sums["loss_sum"] / max(sums["utts"], 1),
        "wer": sums["word_errors"] / max(sums["words"], 1),
        "cer": sums["char_errors"] / max(sums["chars"], 1),
    }


class CETask:
    """Frame-level cross-entropy on forced-alignment labels; validation decodes like CTC (greedy)."""

    monitor = "wer"

    def __init__(self, loss: nn.Module, tokenizer):
        self.loss = loss
        self.tokenizer = tokenizer

    def _labels(self, batch, log_probs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        labels = batch.frame_labels
        if labels is None:
            raise ValueError("loss=ce needs frame labels: set data.alignments (made with `speech align-dataset`)")
        t = log_probs.shape[1]
        n_lab = (labels != -100).sum(dim=1)
        bad = (n_lab != lens.to(n_lab.device)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"utterance {batch.ids[i]!r}: {int(n_lab[i])} frame labels but the model gives "
                             f"{int(lens[i])} frames; align with a model of the same features and frame rate")
        if labels.shape[1] < t:
            labels = torch.nn.functional.pad(labels, (0, t - labels.shape[1]), value=-100)
        return labels[:, :t]

    def training_step(self, model: nn.Module, batch) -> dict[str, torch.Tensor]:
        """batch: AsrBatch with feats (B, T, F) and frame_labels (B, T') -> {"loss": CE per utterance}."""
        log_probs, lens = model(batch.feats, batch.feat_lens)
        return {"loss": self.loss(log_probs, self._labels(batch, log_probs, lens))}

    @torch.no_grad()
    def validation_step(self, model: nn.Module, batch) -> dict[str, float]:
        log_probs, lens = model(batch.feats, batch.feat_lens)
        loss_sum = 0.0
        if batch.frame_labels is not None:
            loss_sum = float(self.loss.__class__(self.loss.label_smoothing, "none")(
                log_probs, self._labels(batch, log_probs, lens)).sum())
        return {"loss_sum": loss_sum, **decode_stats(log_probs, lens, batch.texts, self.tokenizer)}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return error_metrics(sums)
