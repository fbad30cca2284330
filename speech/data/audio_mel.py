"""Vocoder training data: (log-mel, waveform) pairs cut into aligned random crops, and their batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from speech.audio import AudioError, load
from speech.config import GE1, GT0, check_ranges

log = logging.getLogger(__name__)


@dataclass
class VocoderDataConfig:
    """Vocoder training data (config ``vocoder.data``)."""

    segment_frames: int = 32
    """Mel frames per training crop (32 x 256 samples = 0.37 s at 22.05 kHz)."""
    batch_size: int = 16
    dev_utterances: int = 8
    """Held-out training-corpus utterances for validation."""
    max_dev_seconds: float = 4.0
    """Validation utterances are cut to this length."""

    def __post_init__(self) -> None:
        check_ranges("vocoder.data", self, segment_frames=GE1, batch_size=GE1, dev_utterances=GE1,
                     max_dev_seconds=GT0)


class AudioMelDataset(torch.utils.data.Dataset):
    """(mel (T, n_mels), waveform (>= T * hop,)) pairs -> random aligned crops.

    ``segment_frames=0`` returns whole utterances (validation)."""

    def __init__(self, pairs: Sequence[tuple[str, np.ndarray, np.ndarray]], hop: int, segment_frames: int):
        self.items = []
        for uid, mel, wav in pairs:
            t = mel.shape[0]
            if len(wav) < t * hop:
                wav = np.pad(wav, (0, t * hop - len(wav)))
            if segment_frames and t < segment_frames:
                continue
            self.items.append((uid, torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32)),
                               torch.from_numpy(np.ascontiguousarray(wav[: t * hop], dtype=np.float32))))
        if not self.items:
            raise ValueError(f"no utterance has {segment_frames} mel frames or more; lower vocoder.data.segment_frames")
        self.hop, self.segment_frames = hop, segment_frames

    def __len__(self) -> int:
        return len(self.items)

    @property
    def durations(self) -> list[float]:
        return [float(self.segment_frames or m.shape[0]) for _, m, _ in self.items]

    def __getitem__(self, i: int) -> dict:
        uid, mel, wav = self.items[i]
        f = self.segment_frames
        if f:
            s = int(torch.randint(0, mel.shape[0] - f + 1, ()).item())
            mel, wav = mel[s:s + f], wav[s * self.hop:(s + f) * self.hop]
        return {"id": uid, "mel": mel, "wav": wav}


@dataclass
class AudioMelBatch:
    ids: list[str]
    mels: torch.Tensor
    """(B, T, n_mels)"""
    mel_lens: torch.Tensor
    wavs: torch.Tensor
    """(B, T * hop)"""

    def to(self, device, non_blocking: bool = False) -> "AudioMelBatch":
        return AudioMelBatch(self.ids, self.mels.to(device, non_blocking=non_blocking), self.mel_lens.to(device),
                             self.wavs.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "AudioMelBatch":
        return self

    def __len__(self) -> int:
        return len(self.ids)


def collate_audio_mel(items: Sequence[dict]) -> AudioMelBatch:
    mels = torch.nn.utils.rnn.pad_sequence([it["mel"] for it in items], batch_first=True)
    wavs = torch.nn.utils.rnn.pad_sequence([it["wav"] for it in items], batch_first=True)
    return AudioMelBatch([it["id"] for it in items], mels,
                         torch.tensor([it["mel"].shape[0] for it in items]), wavs)


def _load_wavs(utts, sr: int, progress: bool) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    out = {}
    for u in tqdm(utts, desc="audio", disable=not progress, unit="utt"):
        try:
            out[u.id], _ = load(u.audio, sample_rate=sr)
        except (AudioError, OSError, ValueError, RuntimeError) as e:
            why = e.message if isinstance(e, AudioError) else (str(e).splitlines() or [type(e).__name__])[0]
            log.warning("%s: %s; skipped", u.audio, why)
    return out
