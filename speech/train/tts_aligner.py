"""Phoneme durations for synthesis training from the toolkit's own CTC aligner.

A small BiLSTM-CTC phoneme recognizer (:class:`speech.models.asr.BiLSTMCTC`) is trained on the
synthesis corpus itself, on the same log-mel frames the acoustic model predicts, then every
utterance is force-aligned to its own phoneme sequence with the Viterbi kernel
(``kernels/align`` via :func:`speech.decoding.durations.align_durations`).

Aligner labels (:class:`AlignerVocab`): phonemes without stress (39), one ``pau`` label for the
three pause tokens, blank = 0. ``<wb>`` and ``<eos>`` are not aligned: they get 0 frames (word
boundaries are positions, not sounds). Stress is dropped because a stressed and an unstressed
vowel are the same sound class for locating it in time, and 39 labels train faster than 69.

Every pause token must take at least one CTC frame (``stack_frames`` mel frames, 35 ms by
default); a comma the reader did not pause at costs that much.

The aligner trains through the same :class:`~speech.train.Trainer` as every model (checkpoints,
exact resume, TensorBoard), in ``<out>/aligner``; its phoneme error rate on a held-out slice of
the training utterances is the Trainer's "wer" metric.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from speech.config import FRACTION, GE1, check_ranges
from speech.data.dataset import collate_asr, split_by_hash
from speech.data.tts import TtsExample
from speech.decoding.durations import align_durations
from speech.features import compute_cmvn_stats
from speech.losses import CTCLoss
from speech.models.asr.bilstm import bilstm_ctc
from speech.text.phonemes import PAUSES, PHONEMES, PhonemeTokenizer
from speech.train.checkpoint import load_checkpoint, seed_everything
from speech.train.tasks import CTCTask
from speech.train.trainer import Trainer

log = logging.getLogger(__name__)

__all__ = ["AlignerConfig", "AlignerVocab", "align_examples", "plot_alignment", "train_aligner"]


@dataclass
class AlignerConfig:
    """The phoneme CTC aligner (config ``tts.aligner``)."""

    hidden_size: int = 128
    """LSTM cells per direction."""
    num_layers: int = 3
    """Bidirectional LSTM layers."""
    stack_frames: int = 3
    """Mel frames per CTC frame (3 x 11.6 ms = 35 ms at the synthesis hop)."""
    dropout: float = 0.1
    batch_size: int = 16
    dev_fraction: float = 0.03
    """Training utterances held out (by id hash) to report the aligner's phoneme error rate."""

    def __post_init__(self) -> None:
        check_ranges("tts.aligner", self, hidden_size=GE1, num_layers=GE1, stack_frames=GE1, dropout=FRACTION,
                     batch_size=GE1, dev_fraction=FRACTION)


class AlignerVocab:
    """Tokenizer ids -> aligner labels: blank 0, the 39 phonemes, ``pau``; others unaligned (-1)."""

    blank_id = 0

    def __init__(self, tokenizer: PhonemeTokenizer):
        self.names = ["<blank>", *PHONEMES, "pau"]
        index = {n: i for i, n in enumerate(self.names)}
        self.label_of = np.full(len(tokenizer), -1, dtype=np.int64)
        for i, sym in enumerate(tokenizer.vocab):
            if sym in PAUSES:
                self.label_of[i] = index["pau"]
            else:
                base = sym[:-1] if sym[-1:].isdigit() else sym
                if base in index and base != "<blank>":
                    self.label_of[i] = index[base]

    def __len__(self) -> int:
        return len(self.names)

    def labels(self, token_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, positions)``: aligner labels of the aligned tokens and their token indices."""
        lab = self.label_of[np.asarray(token_ids, dtype=np.int64)]
        pos = np.flatnonzero(lab >= 0)
        return lab[pos], pos

    def decode(self, ids) -> str:
        return " ".join(self.names[int(i)] for i in ids if int(i) != self.blank_id)


def _items(examples: Sequence[TtsExample], vocab: AlignerVocab) -> list[dict]:
    items = []
    for ex in examples:
        lab, _ = vocab.labels(ex.phonemes)
        items.append({"id": ex.id, "feats": torch.from_numpy(ex.mel), "tokens": torch.from_numpy(lab),
                      "text": vocab.decode(lab)})
    return items


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list[dict]):
        self.items = items
        self.durations = [float(it["feats"].shape[0]) for it in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def build_aligner_model(n_mels: int, vocab: AlignerVocab, cfg: AlignerConfig):

    return bilstm_ctc(n_mels, len(vocab), specaugment=None, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                      stack_frames=cfg.stack_frames, dropout=cfg.dropout)


def train_aligner(examples: Sequence[TtsExample], tokenizer: PhonemeTokenizer, cfg: AlignerConfig, trainer_cfg,
                  out_dir: str | Path):
    """Train (or resume / reuse) the aligner on examples with ``mel`` set; returns the model (eval mode)
    loaded from its best checkpoint, and the Trainer's result."""

    vocab = AlignerVocab(tokenizer)
    train, dev = split_by_hash(examples, cfg.dev_fraction)
    train_set, dev_set = _ListDataset(_items(train, vocab)), _ListDataset(_items(dev, vocab)) if dev else None
    n_mels = examples[0].mel.shape[1]
    seed_everything(trainer_cfg.seed)
    model = build_aligner_model(n_mels, vocab, cfg)
    step = max(1, len(train_set) // 500)
    mean, std = compute_cmvn_stats(train_set.items[i]["feats"] for i in range(0, len(train_set), step))
    model.cmvn.set_stats(mean, std)
    trainer = Trainer(trainer_cfg, CTCTask(CTCLoss(blank=0), vocab), out_dir)
    result = trainer.fit(model, train_set, dev_set, collate_asr, cfg.batch_size)
    src = result.best_checkpoint or result.last_checkpoint
    model.load_state_dict(load_checkpoint(src)["model"])
    model.eval()
    return model, result


@torch.no_grad()
def align_examples(model, examples: Sequence[TtsExample], tokenizer: PhonemeTokenizer, stack_frames: int,
                   batch_size: int = 16, progress: bool = False) -> list[str]:
    """Set ``ex.durations`` (per token, summing to the mel length) for every example by Viterbi
    alignment; returns the ids that could not be aligned (too short for their phonemes), warned."""
    vocab = AlignerVocab(tokenizer)
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: examples[i].mel.shape[0])
    failed = []
    bar = tqdm(total=len(examples), desc="aligning", disable=not progress, unit="utt")
    for s in range(0, len(order), batch_size):
        chunk = [examples[i] for i in order[s:s + batch_size]]
        feats = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(ex.mel) for ex in chunk], batch_first=True)
        lens = torch.tensor([ex.mel.shape[0] for ex in chunk])
        log_probs, out_lens = model(feats, lens)
        for b, ex in enumerate(chunk):
            lab, pos = vocab.labels(ex.phonemes)
            try:
                d = align_durations(log_probs[b, : int(out_lens[b])], lab, blank=0, factor=stack_frames,
                                    total_frames=ex.mel.shape[0])
            except ValueError as e:
                log.warning("utterance %s: %s; left out of training", ex.id, e)
                failed.append(ex.id)
                continue
            dur = np.zeros(len(ex.phonemes), dtype=np.int64)
            dur[pos] = d
            ex.durations = dur
        bar.update(len(chunk))
    bar.close()
    return failed


def plot_alignment(example: TtsExample, tokenizer: PhonemeTokenizer, path: str | Path, hop_seconds: float) -> Path:
    """PNG: the log-mel with each aligned token's span marked and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel, dur = example.mel, example.durations
    fig, ax = plt.subplots(figsize=(max(8.0, mel.shape[0] * hop_seconds * 3), 4))
    ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma",
              extent=(0, mel.shape[0] * hop_seconds, 0, mel.shape[1]))
    ends = np.cumsum(dur)
    syms = tokenizer.decode(example.phonemes)
    for sym, d, e in zip(syms, dur, ends):
        if d == 0:
            continue
        start = (e - d) * hop_seconds
        ax.axvline(start, color="white", lw=0.6, alpha=0.8)
        ax.text(start + d * hop_seconds / 2, mel.shape[1] * 0.92, sym.strip("<>"), color="white",
                ha="center", fontsize=6, rotation=90)
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    ax.set_title(f"{example.id}: {example.text}"[:120], fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
