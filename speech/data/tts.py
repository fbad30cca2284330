"""Synthesis training data: text -> phoneme ids, audio -> log-mel targets, batching.

Every utterance becomes a :class:`TtsExample`: phoneme ids (the :class:`PhonemeTokenizer`'s, with
``<wb>``, pause tokens and ``<eos>``), the log-mel target on the shared synthesis feature config,
and -- once :mod:`speech.train.tts_aligner` and :mod:`speech.features.prosody` have run -- integer durations
(mel frames per token, summing to the mel length), and normalized pitch and energy per token.

Mels are cached on disk under ``<cache>/mels/<config hash>/<id>.npy`` (the hash covers every
:class:`FbankConfig` field), so a second run of a recipe reads them back instead of recomputing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from speech.audio import AudioError, load
from speech.data.prepare.tts_corpus import TtsUtterance
from speech.features import FbankConfig
from speech.features.functional import log_mel
from speech.fileio import atomic_write_bytes
from speech.text.frontend import text_to_ids
from speech.text.phonemes import PAUSES, PhonemeTokenizer

log = logging.getLogger(__name__)

__all__ = [
    "MelCache",
    "TtsBatch",
    "TtsDataset",
    "TtsExample",
    "collate_tts",
    "encode_texts",
]



@dataclass
class TtsExample:
    """One training utterance. Arrays are numpy; durations/pitch/energy are per token."""

    id: str
    text: str
    phonemes: np.ndarray
    """(L,) int64 token ids."""
    mel: np.ndarray | None = None
    """(T, n_mels) float32 log-mel."""
    durations: np.ndarray | None = None
    """(L,) int64 mel frames per token, sum == T."""
    pitch: np.ndarray | None = None
    """(L,) float32 normalized log-F0 per token."""
    energy: np.ndarray | None = None
    """(L,) float32 normalized energy per token."""
    speaker: int = 0
    audio: str = ""


def encode_texts(utts: Sequence[TtsUtterance], tokenizer: PhonemeTokenizer, g2p=None,
                 progress: bool = False) -> tuple[list[TtsExample], dict]:
    """Transcripts -> phoneme ids; returns the examples and a report of what the frontend guessed
    (``{"unknown": {char: count}, "guessed": {word: source}, "empty": [ids]}``). Utterances whose
    text has nothing to pronounce are left out (listed under "empty")."""
    out, unknown, guessed, empty = [], {}, {}, []
    for u in tqdm(utts, desc="text -> phonemes", disable=not progress, unit="utt"):
        ids, info = text_to_ids(u.text, g2p=g2p, tokenizer=tokenizer, add_eos=True)
        for _, ch in info.unknown:
            unknown[ch] = unknown.get(ch, 0) + 1
        for word, src in info.guessed:
            guessed[word] = src
        if not any(t not in (tokenizer.wb_id, tokenizer.eos_id) and tokenizer.decode([t])[0] not in PAUSES
                   for t in ids):
            empty.append(u.id)
            continue
        out.append(TtsExample(u.id, u.text, np.asarray(ids, dtype=np.int64), audio=u.audio))
    return out, {"unknown": unknown, "guessed": guessed, "empty": empty}


def fbank_key(fbank: FbankConfig) -> str:
    blob = json.dumps(dataclasses.asdict(fbank), sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


class MelCache:
    """Per-utterance log-mel targets as ``.npy`` files under ``root/<fbank hash>/``."""

    def __init__(self, root: str | Path, fbank: FbankConfig):
        self.fbank = fbank
        self.dir = Path(root) / fbank_key(fbank)

    def path(self, utt_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in utt_id)
        if safe != utt_id:
            safe += "-" + hashlib.sha1(utt_id.encode()).hexdigest()[:8]
        return self.dir / f"{safe}.npy"

    def get(self, utt_id: str, audio: str) -> np.ndarray:
        p = self.path(utt_id)
        if p.is_file():
            try:
                mel = np.load(p, allow_pickle=False)
                if mel.ndim == 2 and mel.shape[1] == self.fbank.n_mels:
                    return mel
            except (OSError, ValueError):
                pass
            log.warning("%s: unreadable mel cache file; recomputing", p)
        wav, _ = load(audio, sample_rate=self.fbank.sample_rate)
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), self.fbank).numpy()
        buf = io.BytesIO()
        np.save(buf, mel.astype(np.float32))
        atomic_write_bytes(p, buf.getvalue())
        return mel

    def fill(self, examples: Sequence[TtsExample], progress: bool = False) -> list[str]:
        """Set ``ex.mel`` for every example; returns the ids that failed (unreadable audio), warned."""
        failed = []
        for ex in tqdm(examples, desc="mel targets", disable=not progress, unit="utt"):
            try:
                ex.mel = self.get(ex.id, ex.audio)
            except (AudioError, OSError, ValueError, RuntimeError) as e:
                why = e.message if isinstance(e, AudioError) else (str(e).splitlines() or [type(e).__name__])[0]
                log.warning("%s: %s; utterance skipped", ex.audio, why)
                failed.append(ex.id)
        return failed


class TtsDataset(Dataset):
    """Examples with every target set -> dict items for :func:`collate_tts`.

    ``mel_mean`` / ``mel_std`` (n_mels,) normalize the mel targets per band (the model predicts
    normalized mels; the synthesizer undoes it)."""

    def __init__(self, examples: Sequence[TtsExample], mel_mean: np.ndarray, mel_std: np.ndarray):
        for ex in examples:
            if ex.mel is None or ex.durations is None or ex.pitch is None or ex.energy is None:
                raise ValueError(f"utterance {ex.id!r}: mel, durations, pitch and energy must all be set")
            if int(ex.durations.sum()) != ex.mel.shape[0]:
                raise ValueError(f"utterance {ex.id!r}: durations sum to {int(ex.durations.sum())}, "
                                 f"mel has {ex.mel.shape[0]} frames")
        self.examples = list(examples)
        self.mel_mean = torch.as_tensor(mel_mean, dtype=torch.float32)
        self.mel_std = torch.as_tensor(mel_std, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def durations(self) -> list[float]:
        """Lengths for bucketing (mel frames)."""
        return [float(ex.mel.shape[0]) for ex in self.examples]

    def __getitem__(self, i: int) -> dict:
        ex = self.examples[i]
        mel = (torch.from_numpy(ex.mel) - self.mel_mean) / self.mel_std
        return {"id": ex.id, "phonemes": torch.from_numpy(ex.phonemes), "mel": mel,
                "durations": torch.from_numpy(ex.durations), "pitch": torch.from_numpy(ex.pitch),
                "energy": torch.from_numpy(ex.energy), "speaker": ex.speaker}


@dataclass
class TtsBatch:
    """Padded synthesis batch: phonemes/durations/pitch/energy (B, L), mels (B, T, n_mels)."""

    ids: list[str]
    phonemes: torch.Tensor
    phoneme_lens: torch.Tensor
    mels: torch.Tensor
    mel_lens: torch.Tensor
    durations: torch.Tensor
    pitch: torch.Tensor
    energy: torch.Tensor
    speakers: torch.Tensor
    extra: dict = field(default_factory=dict)

    def to(self, device, non_blocking: bool = False) -> "TtsBatch":
        mv = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return TtsBatch(self.ids, mv(self.phonemes), mv(self.phoneme_lens), mv(self.mels), mv(self.mel_lens),
                        mv(self.durations), mv(self.pitch), mv(self.energy), mv(self.speakers), self.extra)

    def pin_memory(self) -> "TtsBatch":
        return self

    def __len__(self) -> int:
        return len(self.ids)


def collate_tts(items: Sequence[dict]) -> TtsBatch:
    pad = lambda xs: torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)  # noqa: E731
    return TtsBatch(
        ids=[it["id"] for it in items],
        phonemes=pad([it["phonemes"] for it in items]),
        phoneme_lens=torch.tensor([it["phonemes"].numel() for it in items], dtype=torch.long),
        mels=pad([it["mel"] for it in items]),
        mel_lens=torch.tensor([it["mel"].shape[0] for it in items], dtype=torch.long),
        durations=pad([it["durations"] for it in items]),
        pitch=pad([it["pitch"] for it in items]),
        energy=pad([it["energy"] for it in items]),
        speakers=torch.tensor([it["speaker"] for it in items], dtype=torch.long),
    )
