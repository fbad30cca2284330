"""``speech train`` for synthesis: a corpus of recordings + text -> a FastSpeech2-style voice package.

Stages (each cached under ``tts.work_dir`` and skipped when its output is there, so an interrupted
run resumes where it stopped)::

    corpus (read_tts_corpus) -> held-out prompts split off (tts.heldout_fraction, by prompt)
    text -> phoneme ids (normalizer + CMUdict G2P)           phonemes.json
    audio -> log-mel targets (features.fbank)                mels/<hash>/<id>.npy
    phoneme CTC aligner trained on the training utterances   aligner/ (Trainer run)
    Viterbi durations per token                              durations.npz
    pitch (log-F0, tts.pitch_method) and energy per frame    targets/<hash>/<id>.npz
    -> per-token averages normalized with training statistics
    FastSpeech2 trained by the Trainer                        checkpoints/, tensorboard/
    -> package                                                model/

Example::

    speech train experiment=kathleen trainer.max_epochs=2 output_dir=exp/kathleen-quick
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from speech.config import FRACTION, GE0, GE1, GT0, check_ranges, instantiate
from speech.data.dataset import split_by_hash
from speech.data.prepare.tts_corpus import read_tts_corpus, split_heldout
from speech.data.prosody_cache import TargetCache
from speech.data.tts import MelCache, TtsDataset, TtsExample, collate_tts, encode_texts
from speech.features import FbankConfig
from speech.features.prosody import TargetStats, phoneme_average
from speech.fileio import atomic_write_bytes, atomic_write_text
from speech.losses.tts import FastSpeech2Loss
from speech.packages.voice import save_tts_package
from speech.text.phonemes import PhonemeTokenizer
from speech.runtime.synthesis import synthesis_defaults
from speech.train.checkpoint import load_checkpoint, seed_everything
from speech.train.trainer import FitResult, Trainer, TrainerConfig, resolve_device
from speech.train.tts_aligner import (
    AlignerConfig,
    align_examples,
    plot_alignment,
    train_aligner,
)

log = logging.getLogger(__name__)

__all__ = ["FastSpeech2Task", "PreparedTts", "TtsDataConfig", "train_tts", "prepare_tts"]


@dataclass
class TtsDataConfig:
    """Where the synthesis corpus is and how its targets are made (config group ``tts``)."""

    corpus: str = ""
    """Corpus folder in its own layout (see speech.data.prepare.tts_corpus)."""
    layout: str = "auto"
    """auto | folder (audio + same-name .txt) | ljspeech (metadata.csv + wavs/)."""
    heldout_fraction: float = 0.05
    """Fraction of prompts held out as the test set (all takes of a prompt on one side)."""
    dev_fraction: float = 0.03
    """Fraction of the training utterances (by id hash) used for validation during training."""
    work_dir: str = ""
    """Cache of targets (mels, aligner, durations, pitch/energy); default <output_dir>/data."""
    max_utterances: int = 0
    """Use only the first N training utterances (0 = all): quick runs and tests."""
    pitch_method: str = "yin"
    """pyin (accurate, ~0.2 s per second of audio) | yin (~50x faster; see speech.features.prosody)."""
    fmin: float = 65.0
    fmax: float = 600.0
    batch_size: int = 16
    """Utterances per batch per process for the acoustic model."""
    stress: bool = True
    """Phoneme inventory with vowel stress digits (75 ids) or without (45)."""
    aligner: AlignerConfig = dataclasses.field(default_factory=AlignerConfig)
    aligner_epochs: int = 10
    """Passes of the aligner over the training utterances."""
    aligner_lr: float = 2e-3
    mel_contrast: float = 1.0
    """Written into the package (meta.json ``synthesis``): each mel band's variation around its utterance
    mean is scaled by this before vocoding (speech.runtime.synthesis.mel_contrast; 1 = off)."""
    griffin_lim_power: float = 1.0
    """Written into the package too: Griffin-Lim's magnitude exponent when the voice is vocoded with it."""

    def synthesis(self) -> dict[str, float]:
        """The package's ``synthesis`` settings."""
        return {"mel_contrast": float(self.mel_contrast), "griffin_lim_power": float(self.griffin_lim_power)}

    def __post_init__(self) -> None:
        if isinstance(self.aligner, dict):
            self.aligner = AlignerConfig(**self.aligner)
        try:
            synthesis_defaults({"synthesis": self.synthesis()}, "config")
        except ValueError as e:
            raise ValueError(str(e).replace("config: synthesis.", "tts.")) from None
        check_ranges("tts", self, heldout_fraction=FRACTION, dev_fraction=FRACTION, max_utterances=GE0, fmin=GT0,
                     fmax=GT0, aligner_epochs=GE1, aligner_lr=GT0)
        if self.pitch_method not in ("pyin", "yin"):
            raise ValueError(f"tts.pitch_method must be pyin or yin, got {self.pitch_method!r}")
        if self.batch_size < 1:
            raise ValueError(f"tts.batch_size must be >= 1, got {self.batch_size}")


@dataclass
class PreparedTts:
    """Training material made by :func:`prepare_tts`."""

    train: list[TtsExample]
    dev: list[TtsExample]
    test: list  # TtsUtterance: held-out prompts (audio + text) for evaluation
    tokenizer: PhonemeTokenizer
    stats: TargetStats
    mel_mean: np.ndarray
    mel_std: np.ndarray
    report: dict


def _save_npz(path: Path, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def prepare_tts(data: TtsDataConfig, fbank: FbankConfig, work_dir: str | Path, aligner_trainer: TrainerConfig,
                progress: bool = True) -> PreparedTts:
    """Run (or reuse) every target stage and return the normalized training material."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    utts = read_tts_corpus(data.corpus, data.layout)
    train_utts, test_utts = split_heldout(utts, data.heldout_fraction)
    if data.max_utterances > 0:
        train_utts = train_utts[: data.max_utterances]
    tokenizer = PhonemeTokenizer(stress=data.stress)
    examples, frontend = encode_texts(train_utts, tokenizer, progress=progress)
    if frontend["unknown"] or frontend["guessed"]:
        log.info("text frontend: %d unknown characters %s, %d words not in CMUdict (guessed), e.g. %s",
                 sum(frontend["unknown"].values()), sorted(frontend["unknown"])[:10], len(frontend["guessed"]),
                 sorted(frontend["guessed"])[:10])

    failed_mel = set(MelCache(work / "mels", fbank).fill(examples, progress=progress))
    examples = [ex for ex in examples if ex.id not in failed_mel]
    if not examples:
        raise ValueError(f"tts.corpus: {data.corpus}: no usable training utterance")

    # durations: the aligner, reused when durations.npz matches these utterances and token ids
    dur_path = work / "durations.npz"
    key = hashlib.sha1(json.dumps([[ex.id, ex.phonemes.tolist(), ex.mel.shape[0]] for ex in examples]).encode()
                       ).hexdigest()
    cached = None
    if dur_path.is_file():
        with np.load(dur_path, allow_pickle=False) as z:
            if str(z["key"]) == key:
                cached = {k: z[k] for k in z.files if k != "key"}
    failed_align: list[str] = []
    if cached is not None:
        for ex in examples:
            if ex.id in cached:
                ex.durations = cached[ex.id].astype(np.int64)
        failed_align = [ex.id for ex in examples if ex.durations is None]
    else:
        model, result = train_aligner(examples, tokenizer, data.aligner, aligner_trainer, work / "aligner")
        failed_align = align_examples(model, examples, tokenizer, data.aligner.stack_frames,
                                      progress=progress)
        _save_npz(dur_path, {"key": np.array(key), **{ex.id: ex.durations for ex in examples
                                                      if ex.durations is not None}})
        for ex in examples[:2]:
            if ex.durations is not None:
                plot_alignment(ex, tokenizer, work / f"alignment_{ex.id}.png", fbank.hop_length / fbank.sample_rate)
    examples = [ex for ex in examples if ex.durations is not None]

    # pitch and energy per frame (cached), statistics over the training frames, per-token averages
    cache = TargetCache(work / "targets", method=data.pitch_method, fmin=data.fmin, fmax=data.fmax)
    cache.compute_all([(ex.id, ex.audio) for ex in examples], fbank, progress=progress)
    frames = {}
    for ex in examples:
        t = cache.get_or_compute(ex.id, ex.audio, fbank)
        if len(t["energy"]) != ex.mel.shape[0]:
            raise RuntimeError(f"utterance {ex.id}: {len(t['energy'])} target frames vs {ex.mel.shape[0]} mel frames")
        frames[ex.id] = t
    stats = TargetStats.compute(frames.values())
    for ex in examples:
        t = frames[ex.id]
        zero = ex.durations == 0
        p = stats.normalize("pitch", phoneme_average(t["log_f0"], ex.durations, mask=t["voiced"]))
        e = stats.normalize("energy", phoneme_average(t["energy"], ex.durations))
        p[zero], e[zero] = 0.0, 0.0
        ex.pitch, ex.energy = p.astype(np.float32), e.astype(np.float32)

    train, dev = split_by_hash(examples, data.dev_fraction)
    all_mel = np.concatenate([ex.mel for ex in train], axis=0).astype(np.float64)
    mel_mean, mel_std = all_mel.mean(0).astype(np.float32), np.maximum(all_mel.std(0), 1e-3).astype(np.float32)
    report = {"utterances": len(utts), "train": len(train), "dev": len(dev), "test": len(test_utts),
              "test_prompts": len({u.group for u in test_utts}), "frontend_unknown": frontend["unknown"],
              "frontend_guessed": frontend["guessed"], "frontend_empty": frontend["empty"],
              "failed_audio": sorted(failed_mel), "failed_alignment": failed_align,
              "train_hours": sum(ex.mel.shape[0] for ex in train) * fbank.hop_length / fbank.sample_rate / 3600}
    atomic_write_text(work / "prepared.json", json.dumps(report, indent=2) + "\n")
    return PreparedTts(train, dev, test_utts, tokenizer, stats, mel_mean, mel_std, report)


class FastSpeech2Task:
    """Teacher-forced FastSpeech2 training; validation reports the same loss terms (mel L1 ranks)."""

    monitor = "mel"

    def __init__(self, loss):
        self.loss = loss

    def _run(self, model, batch):
        out = model(batch.phonemes, batch.phoneme_lens, batch.durations, batch.pitch, batch.energy, batch.speakers)
        return self.loss(out, batch.mels, batch.durations, batch.pitch, batch.energy, batch.phoneme_lens,
                         batch.mel_lens)

    def training_step(self, model, batch) -> dict[str, torch.Tensor]:
        total, parts = self._run(model, batch)
        return {"loss": total, **parts}

    @torch.no_grad()
    def validation_step(self, model, batch) -> dict[str, float]:
        total, parts = self._run(model, batch)
        n = len(batch)
        return {"utts": n, "loss_sum": float(total) * n, **{f"{k}_sum": float(v) * n for k, v in parts.items()}}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums.get("utts", 0), 1)
        return {k[:-4]: v / n for k, v in sums.items() if k.endswith("_sum")}


def train_tts(cfg: DictConfig, stop_at_step: int | None = None) -> tuple[FitResult, Path | None]:
    """Train a synthesis model from a composed config (``model/tts`` set); returns the fit result and
    the package path."""

    if cfg.model.get("tts") is None:
        raise ValueError("model/tts is not set: choose a synthesis model, e.g. model/tts=fastspeech2")
    tts_fields = OmegaConf.to_container(cfg.tts, resolve=True)
    loss_fields = tts_fields.pop("loss", None) or {}
    data = TtsDataConfig(**tts_fields)
    if not data.corpus:
        raise ValueError("tts.corpus: not set; point it at a corpus folder (audio + .txt, or LJSpeech layout)")
    fbank: FbankConfig = instantiate(cfg.features.fbank)
    tcfg: TrainerConfig = instantiate(cfg.trainer)
    resolve_device(tcfg.device)  # before the target stages, not after them
    out_dir = Path(cfg.output_dir)
    work = Path(data.work_dir) if data.work_dir else out_dir / "data"
    aligner_trainer = dataclasses.replace(tcfg, max_epochs=data.aligner_epochs, max_steps=0, lr=data.aligner_lr,
                                          warmup_steps=min(tcfg.warmup_steps, 100), val_every_steps=0,
                                          reference_batch=0)
    prep = prepare_tts(data, fbank, work, aligner_trainer, progress=tcfg.progress)
    log.info("synthesis data: %d train / %d dev utterances (%.2f h), %d held-out test", len(prep.train),
             len(prep.dev), prep.report["train_hours"], len(prep.test))

    seed_everything(tcfg.seed)
    model = instantiate(cfg.model.tts, vocab_size=len(prep.tokenizer), n_mels=fbank.n_mels)
    loss = FastSpeech2Loss(**loss_fields)
    train_set = TtsDataset(prep.train, prep.mel_mean, prep.mel_std)
    dev_set = TtsDataset(prep.dev, prep.mel_mean, prep.mel_std) if prep.dev else None
    log.info("FastSpeech2: %.2fM parameters", model.num_parameters() / 1e6)
    result = Trainer(tcfg, FastSpeech2Task(loss), out_dir).fit(model, train_set, dev_set, collate_tts,
                                                               data.batch_size, stop_at_step=stop_at_step)
    package = None
    if stop_at_step is None or result.steps >= stop_at_step:
        src = result.best_checkpoint or result.last_checkpoint
        ckpt = load_checkpoint(src)
        package = save_tts_package(
            out_dir / "model", fbank=fbank, model_cfg=OmegaConf.to_container(cfg.model.tts, resolve=True),
            tokenizer=prep.tokenizer, state=ckpt["model"], stats=prep.stats, mel_mean=prep.mel_mean,
            mel_std=prep.mel_std, frontend={"pitch_method": data.pitch_method, "fmin": data.fmin, "fmax": data.fmax},
            meta={"checkpoint": src.name, "steps": result.steps, "epochs": result.epochs_completed,
                  "train_seconds": round(result.seconds, 1), "dev_metrics": ckpt.get("metrics", {}),
                  "train_utterances": len(prep.train), "corpus": data.corpus,
                  "test_ids": [u.id for u in prep.test], "synthesis": data.synthesis()})
        atomic_write_text(out_dir / "train_summary.json", json.dumps({
            "package": str(package), "best_checkpoint": str(src), "best_metric": result.best_metric,
            "steps": result.steps, "seconds": round(result.seconds, 1), "data": prep.report}, indent=2) + "\n")
        log.info("voice package written to %s (from %s)", package, src.name)
    return result, package
