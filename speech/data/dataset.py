"""ASR dataset and batch collation: manifest utterances -> padded log-mel batches.

Features are computed from audio on the fly (in DataLoader workers when ``num_workers > 0``)
or once up front and kept in memory (``cache_features``), which suits small corpora.
Audio that fails to decode raises :class:`BadUtteranceError`, one line naming the manifest line
and the file, also from DataLoader workers; with ``skip_bad`` the utterance is dropped instead.
Augmentation that draws random numbers (SpecAugment) runs inside the model, on the batch,
so its randomness comes from the checkpointed torch RNG and training resumes exactly.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from speech.audio import AudioError, load, resample
from speech.config import FRACTION, GE0, GE1, check_ranges, rule
from speech.data.manifest import Utterance
from speech.features import FbankConfig, log_mel
from speech.features.channel import (
    add_noise_logmel,
    band_centres_hz,
    eq_logmel,
    is_warp,
    lowpass_gain_db,
    noise_bank,
    random_eq_db,
    sample_noise_frames,
    tilt_logmel,
    warp_logmel,
)
from speech.text.tokenizer import CharTokenizer

log = logging.getLogger(__name__)


class BadUtteranceError(ValueError):
    """An utterance whose audio cannot be turned into features.

    ``str(err)`` is one line: ``"<manifest>:<line>: <audio error>"`` (the utterance id when it was
    not read from a manifest). Raised in a DataLoader worker, it reaches the training process
    re-created by torch from a message that holds the worker's traceback; the constructor keeps
    only the original line, so the error still reads as one line there.
    """

    def __init__(self, message: str):
        if message.startswith("Caught ") and "\n" in message:  # torch's ExceptionWrapper.reraise
            tail = [ln for ln in message.splitlines() if ln.strip()][-1]
            _, sep, original = tail.partition(f"{type(self).__name__}: ")
            message = original if sep else message
        super().__init__(message)


@dataclass
class DataConfig:
    """Where a corpus' manifests are and how they are batched (config group ``data/``)."""

    corpus: str = "custom"
    """Importer name for ``speech prepare`` (fsdd, an4, ljspeech, librispeech, folder, table)."""
    root: str = ""
    """The corpus in its own layout (input of the importer)."""
    manifest_dir: str = "data/custom"
    """Where the importer writes ``<split>.jsonl``."""
    train_manifest: str = ""
    """JSON-lines manifest used for training."""
    dev_manifest: str | None = None
    """Validation manifest; when empty, ``dev_fraction`` of the training set is held out (by id hash)."""
    test_manifest: str | None = None
    """Evaluated by recipes after training."""
    dev_fraction: float = 0.05
    """Fraction of training utterances held out for validation when there is no dev manifest."""
    batch_size: int = 32
    """Utterances per batch per process (the global batch is batch_size x world size)."""
    max_duration: float = 0.0
    """Skip training utterances longer than this many seconds (0 = keep all)."""
    num_workers: int = 0
    """DataLoader worker processes (0 = load in the training process)."""
    cache_features: bool = False
    """Compute every utterance's features once and keep them in memory."""
    bucket_size_multiplier: int = 50
    """Length-bucketing window, in batches (see BucketBatchSampler)."""
    alignments: str | None = None
    """Frame labels of the training (and dev) utterances for ``loss=ce`` (``speech align-dataset``)."""
    speed_perturb: list[float] = field(default_factory=list)
    """Speed perturbation of the training set, e.g. [0.9, 1.0, 1.1]: every utterance is used once at
    each factor (played faster or slower, pitch changing with it); empty = off."""
    quantize_bits: list[int] = field(default_factory=list)
    """Low-resolution copies of the training set, e.g. [8]: every utterance is also used requantized to
    each bit depth (its quiet parts turned to digital silence, its speech carrying quantization noise,
    as a cheap 8-bit recording would), so the model does not hinge on the recording's noise floor; empty = off."""
    pad_silence: float = 0.0
    """Up to this many seconds of digital silence added at random to each end of every training
    utterance (drawn anew each time), so a model trained on tightly trimmed clips is not thrown by the
    silence a segmenter leaves around speech in long recordings; 0 = off."""
    trim_edges: float = 0.0
    """Up to this many seconds cut at random from each end of every training utterance (drawn anew each
    time, at most a fifth of the utterance a side), as a tight or clumsy endpointer leaves a clip with its
    first consonant or last sound clipped, so a model does not hinge on hearing a word's whole onset; 0 = off."""
    noise_snr_db: list[float] = field(default_factory=list)
    """Background noise mixed into training utterances at an SNR drawn uniformly from ``[low, high]`` dB,
    e.g. [5, 30]: white, pink or brown noise added to the log-mel features in the power domain
    (:mod:`speech.features.channel`), drawn anew each time; empty = off."""
    noise_prob: float = 0.5
    """With ``noise_snr_db``: the fraction of training items that get noise."""
    tilt_db: float = 0.0
    """A random microphone tilt on every training item: a gain rising linearly across the mel bands, its
    slope (lowest to highest band) drawn uniformly from ``[-tilt_db, tilt_db]`` dB; 0 = off."""
    eq_db: float = 0.0
    """A random colouring on every training item beyond the tilt: a smooth curve across the mel bands
    (four cosine terms) whose largest deviation is drawn uniformly from ``[0, eq_db]`` dB; 0 = off."""
    lowpass_hz: list[float] = field(default_factory=list)
    """A band-limited channel on some training items, e.g. [1500, 4000]: every band above a cut-off drawn
    uniformly from ``[low, high]`` Hz is cut by 24 dB per octave above it (a cheap microphone or codec, a
    muffled room), so a model does not hinge on the top of the band; empty = off."""
    lowpass_prob: float = 0.5
    """With ``lowpass_hz``: the fraction of training items that get the low-pass."""
    vtlp: list[float] = field(default_factory=list)
    """Vocal tract length perturbation of training items, e.g. [0.9, 1.1]: the mel bands of each item are
    warped by a factor drawn uniformly from ``[low, high]`` (above 1 the formants move up, as a shorter
    vocal tract's do; :func:`speech.features.channel.warp_logmel`), drawn anew each time; empty = off."""
    skip_bad: bool = False
    """Bad manifest lines (malformed, empty or unsayable text, missing / unreadable audio, a duration
    the audio contradicts) and audio that fails to decode during training: false = stop with an
    error naming each ``manifest:line``; true = train without them, list the manifest lines in
    ``<output_dir>/skipped.jsonl`` and log one warning per utterance dropped later."""

    def __post_init__(self) -> None:
        check_ranges("data", self, batch_size=GE1, dev_fraction=FRACTION, max_duration=GE0, num_workers=GE0,
                     bucket_size_multiplier=GE1, pad_silence=GE0, trim_edges=GE0, noise_prob=FRACTION,
                     tilt_db=GE0, eq_db=GE0, lowpass_prob=FRACTION,
                     lowpass_hz=rule(_lowpass_range_ok,
                                     "[] or two cut-offs [low, high] in Hz, 0 < low <= high, e.g. [1500, 4000]"),
                     noise_snr_db=rule(_snr_range_ok, "[] or two SNRs [low, high] in dB with low <= high, e.g. [5, 30]"),
                     vtlp=rule(_warp_range_ok, "[] or two warp factors [low, high] within 0.5-2.0, low <= high, e.g. [0.9, 1.1]"),
                     speed_perturb=rule(lambda v: all(s > 0 for s in v), "factors > 0, e.g. [0.9, 1.0, 1.1]"),
                     quantize_bits=rule(lambda v: all(2 <= b <= 16 for b in v), "bit depths from 2 to 16, e.g. [8]"))


def _lowpass_range_ok(v: Sequence[float]) -> bool:
    return len(v) == 0 or (len(v) == 2 and all(np.isfinite(float(x)) for x in v) and 0 < float(v[0]) <= float(v[1]))


def _snr_range_ok(v: Sequence[float]) -> bool:
    return len(v) == 0 or (len(v) == 2 and all(np.isfinite(float(x)) for x in v) and float(v[0]) <= float(v[1]))


def _warp_range_ok(v: Sequence[float]) -> bool:
    return len(v) == 0 or (_snr_range_ok(v) and is_warp(float(v[0])) and is_warp(float(v[1])))


def split_by_hash(utts: Sequence[Utterance], fraction: float) -> tuple[list[Utterance], list[Utterance]]:
    """Deterministically hold out about ``fraction`` of utterances, chosen by a hash of their id."""
    keep, held = [], []
    for u in utts:
        h = int(hashlib.sha1(u.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (held if h < fraction else keep).append(u)
    return keep, held


class AsrDataset(Dataset):
    """Utterances -> dict(id, feats (T, F) float32, tokens (S,) int64, text).

    Args:
        utts: manifest entries (``start``/``end`` select a segment of the audio file).
        tokenizer: maps normalized text to ids; ``None`` for unlabeled audio.
        fbank: feature settings; audio is resampled to ``fbank.sample_rate``.
        cache_features: compute all features now and keep them.
        pad_silence, trim_edges: see :attr:`DataConfig.pad_silence` and :attr:`DataConfig.trim_edges`
            (training sets only).
        noise_snr_db, noise_prob, tilt_db, eq_db, lowpass_hz, lowpass_prob, vtlp: see
            :attr:`DataConfig.noise_snr_db` and the fields after it (training sets only).
        desc: progress-bar label while caching (None hides the bar).
        skip_bad: an utterance whose audio cannot be decoded is dropped (when caching, from the
            dataset; otherwise from its batch, logging one warning) instead of raising
            :class:`BadUtteranceError`.

    Attributes:
        dropped: ``(where, problem)`` of the utterances dropped while caching.
    """

    def __init__(self, utts: Sequence[Utterance], tokenizer: CharTokenizer | None, fbank: FbankConfig,
                 cache_features: bool = False, desc: str | None = "features",
                 frame_labels: dict[str, np.ndarray] | None = None, speed_factors: Sequence[float] = (),
                 pad_silence: float = 0.0, skip_bad: bool = False, quantize_bits: Sequence[int] = (),
                 noise_snr_db: Sequence[float] = (), noise_prob: float = 0.5, tilt_db: float = 0.0,
                 eq_db: float = 0.0, vtlp: Sequence[float] = (), trim_edges: float = 0.0,
                 lowpass_hz: Sequence[float] = (), lowpass_prob: float = 0.5):
        self.utts = list(utts)
        self.skip_bad = skip_bad
        self.dropped: list[tuple[str, str]] = []
        self._bad: dict[int, str] = {}  # utterance index -> its error, with skip_bad
        if pad_silence < 0:
            raise ValueError(f"data.pad_silence: {pad_silence}; expected seconds >= 0")
        if pad_silence > 0 and frame_labels is not None:
            raise ValueError("data.pad_silence cannot be combined with frame labels (loss=ce): "
                             "it changes the number of frames")
        self.pad_frames = int(round(pad_silence * 1000 / fbank.hop_ms))
        if not trim_edges >= 0:
            raise ValueError(f"data.trim_edges: {trim_edges}; expected seconds >= 0")
        if trim_edges > 0 and frame_labels is not None:
            raise ValueError("data.trim_edges cannot be combined with frame labels (loss=ce): "
                             "it changes the number of frames")
        self.trim_frames = int(round(trim_edges * 1000 / fbank.hop_ms))
        # a frame of digital zeros is the log floor in every band
        self.silence_value = float(np.log(fbank.log_floor))
        if not _snr_range_ok(noise_snr_db):
            raise ValueError(f"data.noise_snr_db: {list(noise_snr_db)}; expected [] or [low, high] dB with low <= high")
        if not 0.0 <= noise_prob <= 1.0:
            raise ValueError(f"data.noise_prob: {noise_prob}; expected a fraction in [0, 1]")
        if not tilt_db >= 0:
            raise ValueError(f"data.tilt_db: {tilt_db}; expected a slope >= 0 dB")
        if not eq_db >= 0:
            raise ValueError(f"data.eq_db: {eq_db}; expected a deviation >= 0 dB")
        self.eq_db = float(eq_db)
        if not _lowpass_range_ok(lowpass_hz):
            raise ValueError(f"data.lowpass_hz: {list(lowpass_hz)}; expected [] or [low, high] Hz, 0 < low <= high")
        if not 0.0 <= lowpass_prob <= 1.0:
            raise ValueError(f"data.lowpass_prob: {lowpass_prob}; expected a fraction in [0, 1]")
        self.lowpass = tuple(float(x) for x in lowpass_hz)
        self.lowpass_prob = float(lowpass_prob)
        self._centres = band_centres_hz(fbank) if self.lowpass else None
        if not _warp_range_ok(vtlp):
            raise ValueError(f"data.vtlp: {list(vtlp)}; expected [] or [low, high] warp factors within 0.5-2.0, low <= high")
        self.vtlp = tuple(float(x) for x in vtlp)
        self.noise_snr = tuple(float(x) for x in noise_snr_db)
        self.noise_prob, self.tilt_db = float(noise_prob), float(tilt_db)
        self._noise: list[torch.Tensor] | None = None  # built on first use (per DataLoader worker)
        self.frame_labels = frame_labels
        self.factors = [float(f) for f in speed_factors] or [1.0]
        if any(f <= 0 for f in self.factors):
            raise ValueError(f"data.speed_perturb: factors must be > 0, got {list(speed_factors)}")
        if frame_labels is not None and self.factors != [1.0]:
            raise ValueError("data.speed_perturb cannot be combined with frame labels (loss=ce): "
                             "a changed speed changes the number of frames")
        if any(not 2 <= int(b) <= 16 for b in quantize_bits):
            raise ValueError(f"data.quantize_bits: {list(quantize_bits)}; expected bit depths from 2 to 16")
        # each utterance once per (speed, bit depth) variant: every speed at full resolution, then each
        # bit depth at the original speed
        self.variants = [(f, 0) for f in self.factors] + [(1.0, int(b)) for b in quantize_bits]
        self.tokenizer = tokenizer
        self.fbank = fbank
        self.tokens = [tokenizer.encode(u.text, u.id) for u in self.utts] if tokenizer is not None else None
        self._cache: list[torch.Tensor] | None = None
        if cache_features:
            self._cache = self._compute_cache(desc)

    def _compute_cache(self, desc: str | None) -> list[torch.Tensor]:
        feats: list[torch.Tensor | None] = []
        bad: set[int] = set()
        for i in tqdm(range(len(self)), desc=desc, unit="utt", leave=False, disable=desc is None):
            j = i % len(self.utts)
            if j in bad:
                feats.append(None)
                continue
            try:
                feats.append(self._features(i))
            except BadUtteranceError as e:
                if not self.skip_bad:
                    raise
                bad.add(j)
                feats.append(None)
                u = self.utts[j]
                self.dropped.append((u.origin or u.id, str(e)))
                log.warning("%s; utterance dropped (data.skip_bad)", e)
        if not bad:
            return feats  # type: ignore[return-value]
        n = len(self.utts)
        keep = [j for j in range(n) if j not in bad]
        cache = [feats[k * n + j] for k in range(len(self.variants)) for j in keep]
        self.utts = [self.utts[j] for j in keep]
        if self.tokens is not None:
            self.tokens = [self.tokens[j] for j in keep]
        return cache  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.utts) * len(self.variants)

    @property
    def durations(self) -> list[float]:
        return [u.duration / f for f, _ in self.variants for u in self.utts]

    def _features(self, i: int) -> torch.Tensor:
        k, j = divmod(i, len(self.utts))
        u, (factor, bits) = self.utts[j], self.variants[k]
        sr = self.fbank.sample_rate
        try:
            wav, _ = load(u.audio, sr, start=u.start, end=u.end)
        except (AudioError, ValueError) as e:
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise BadUtteranceError(f"{u.origin or f'utterance {u.id!r}'}: audio {detail}") from None
        x = torch.from_numpy(wav)
        if bits:  # requantize to `bits` (full scale = 1.0)
            top = float(2 ** (bits - 1) - 1)
            x = torch.clamp(torch.round(x * top), -top - 1, top) / top
        if factor != 1.0:  # play at `factor` x speed: treat the samples as recorded at sr * factor
            x = resample(x, int(round(sr * factor)), sr)
        return log_mel(x, self.fbank)

    def features(self, i: int) -> torch.Tensor:
        """Item ``i``'s log-mel features (T, F) before random augmentation (silence padding).

        Raises:
            BadUtteranceError: the audio cannot be decoded (whatever ``skip_bad`` says).
        """
        return self._cache[i] if self._cache is not None else self._features(i)

    def __getitem__(self, i: int) -> dict:
        """Item ``i``; with ``skip_bad``, an item whose audio fails is replaced by the next good one,
        marked ``"dropped"`` so that :func:`collate_asr` leaves it out of its batch."""
        try:
            return self._item(i)
        except BadUtteranceError as e:
            if not self.skip_bad:
                raise
            bad = str(e)
        for step in range(1, len(self)):
            try:
                item = self._item((i + step) % len(self))
            except BadUtteranceError:
                continue
            item["dropped"] = bad
            return item
        raise BadUtteranceError(f"{bad} (and no other utterance of this set could be read)")

    def _channel(self, feats: torch.Tensor) -> torch.Tensor:
        """Random vocal tract warp, microphone tilt, colouring and band limit, and background noise (training
        sets with them on; global torch RNG, restored on resume like SpecAugment's)."""
        if self.vtlp:
            low, high = self.vtlp
            feats = warp_logmel(feats, self.fbank, low + (high - low) * float(torch.rand(())))
        if self.tilt_db > 0:
            slope = (2 * float(torch.rand(())) - 1) * self.tilt_db
            feats = tilt_logmel(feats, slope, floor=self.silence_value)
        if self.eq_db > 0:
            feats = eq_logmel(feats, random_eq_db(feats.shape[-1], self.eq_db), floor=self.silence_value)
        if self.lowpass and float(torch.rand(())) < self.lowpass_prob:
            low, high = self.lowpass
            cutoff = low + (high - low) * float(torch.rand(()))
            feats = eq_logmel(feats, lowpass_gain_db(self._centres, cutoff), floor=self.silence_value)
        if self.noise_snr and float(torch.rand(())) < self.noise_prob and feats.shape[0] > 0:
            if self._noise is None:
                self._noise = noise_bank(self.fbank)
            low, high = self.noise_snr
            snr = low + (high - low) * float(torch.rand(()))
            feats = add_noise_logmel(feats, sample_noise_frames(self._noise, feats.shape[0]), snr)
        return feats

    def _item(self, i: int) -> dict:
        j = i % len(self.utts)
        u = self.utts[j]
        if j in self._bad:  # known to fail in this process: not decoded again
            raise BadUtteranceError(self._bad[j])
        try:
            feats = self.features(i)
        except BadUtteranceError as e:
            if self.skip_bad:  # remembered per process (each DataLoader worker keeps its own)
                self._bad[j] = str(e)
                log.warning("%s; utterance dropped (data.skip_bad)", e)
            raise
        factor, bits = self.variants[i // len(self.utts)]
        feats = self._channel(feats)
        if self.trim_frames:  # global torch RNG, like the padding below
            most = min(self.trim_frames, feats.shape[0] // 5)
            left, right = torch.randint(0, most + 1, (2,)).tolist()
            feats = feats[left:feats.shape[0] - right]
        if self.pad_frames:  # global torch RNG: restored on resume like SpecAugment's
            left, right = torch.randint(0, self.pad_frames + 1, (2,)).tolist()
            feats = torch.nn.functional.pad(feats, (0, 0, left, right), value=self.silence_value)
        suffix = (f"@{factor:g}" if factor != 1.0 else "") + (f"@{bits}bit" if bits else "")
        item = {"id": u.id + suffix, "feats": feats, "text": u.text}
        if self.tokens is not None:
            item["tokens"] = torch.tensor(self.tokens[j], dtype=torch.long)
        if self.frame_labels is not None:
            labels = self.frame_labels.get(u.id)
            if labels is None:
                raise KeyError(f"utterance {u.id!r} has no frame labels in data.alignments")
            item["frame_labels"] = torch.as_tensor(labels, dtype=torch.long)
        return item


@dataclass
class AsrBatch:
    """A padded batch. feats (B, T, F), feat_lens (B,), tokens (B, S) padded with 0, token_lens (B,)."""

    ids: list[str]
    feats: torch.Tensor
    feat_lens: torch.Tensor
    tokens: torch.Tensor | None = None
    token_lens: torch.Tensor | None = None
    texts: list[str] = field(default_factory=list)
    frame_labels: torch.Tensor | None = None
    """(B, T') symbol per output frame for frame-level CE, IGNORE (-100) on padding."""

    def _map(self, fn) -> "AsrBatch":
        f = lambda t: fn(t) if t is not None else None  # noqa: E731
        return AsrBatch(self.ids, f(self.feats), f(self.feat_lens), f(self.tokens), f(self.token_lens), self.texts,
                        f(self.frame_labels))

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "AsrBatch":
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "AsrBatch":
        return self._map(lambda t: t.pin_memory())

    def __len__(self) -> int:
        return len(self.ids)


def collate_asr(items: Sequence[dict]) -> AsrBatch:
    """Pad a list of :class:`AsrDataset` items into an :class:`AsrBatch`.

    Items marked ``"dropped"`` (stand-ins for utterances whose audio failed, see
    :class:`AsrDataset`) are left out, unless every item is one: then the first is kept so that a
    batch is never empty.
    """
    items = [it for it in items if "dropped" not in it] or list(items[:1])
    feats = [it["feats"] for it in items]
    feat_lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    tokens = token_lens = None
    if items and "tokens" in items[0]:
        toks = [it["tokens"] for it in items]
        token_lens = torch.tensor([t.numel() for t in toks], dtype=torch.long)
        tokens = torch.nn.utils.rnn.pad_sequence(toks, batch_first=True) if toks else torch.zeros(0, 0, dtype=torch.long)
    frame_labels = None
    if items and "frame_labels" in items[0]:
        frame_labels = torch.nn.utils.rnn.pad_sequence([it["frame_labels"] for it in items], batch_first=True,
                                                       padding_value=-100)
    return AsrBatch([it["id"] for it in items], padded, feat_lens, tokens, token_lens, [it["text"] for it in items],
                    frame_labels)
