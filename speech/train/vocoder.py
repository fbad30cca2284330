"""Neural vocoder training (HiFi-GAN) through the toolkit's Trainer, and vocoder packages.

Data: every training utterance's log-mel (the synthesis mel config, cached like the acoustic model's
targets) and its waveform. A training item is a random crop of ``segment_frames`` mel frames and the
audio they came from: our mel frame ``t`` covers samples ``[t * hop, t * hop + win)`` (no centring),
and the generator maps frame ``t`` to output samples ``[t * hop, (t + 1) * hop)``, so the crop
``frames [s, s + F)`` is paired with ``samples [s * hop, (s + F) * hop)``. Crops are drawn with the
global torch RNG, which the Trainer checkpoints: a resumed run sees the same crops.

Fine-tuning on the acoustic model's output (``mels="teacher_forced"``): the FastSpeech2 voice is run
with the true durations, pitch and energy of each training utterance, so its mel has exactly the
recording's frame count and lines up with the audio; the vocoder then learns to turn the model's
(smoother) mels into the real waveform.

Task (:class:`HiFiGANTask`): the Trainer steps the discriminators (multi-period + multi-scale,
least-squares loss on real vs generated audio) and then the generator (least-squares adversarial
loss + 2 x feature matching + 45 x mel L1, the paper's weights). With ``adversarial_start_step=N``
the first N steps train the generator on the mel L1 alone and leave the discriminators untouched
(cheap steps that get the generator near the target before the GAN refines it). Validation runs
the generator on whole held-out utterances and reports their log-mel L1 (the checkpoint ranking metric); TensorBoard
gets an audio sample and a mel plot at each validation.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speech.config import GE0, GT0, check_ranges, instantiate, rule
from speech.data.audio_mel import (
    AudioMelDataset,
    VocoderDataConfig,
    _load_wavs,
    collate_audio_mel,
)
from speech.data.prepare.tts_corpus import read_tts_corpus, split_heldout
from speech.data.tts import MelCache, TtsExample
from speech.features import FbankConfig
from speech.features.functional import log_mel
from speech.losses.gan import (
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)
from speech.models.vocoders import (
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    hifigan_generator,
)
from speech.packages.format import weights_path
from speech.packages.vocoder import read_vocoder_config, save_vocoder_package
from speech.packages.voice import load_tts_package
from speech.packages.weights import load_weights
from speech.train.checkpoint import load_checkpoint, seed_everything
from speech.train.trainer import Trainer, TrainerConfig, resolve_device
from speech.train.tts import TtsDataConfig, prepare_tts

log = logging.getLogger(__name__)

__all__ = ["AudioMelDataset", "HiFiGANDiscriminator", "HiFiGANTask", "VocoderDataConfig", "collate_audio_mel",
           "save_vocoder_package", "train_vocoder"]


class HiFiGANDiscriminator(nn.Module):
    """Multi-period and multi-scale discriminators side by side: ``(scores, feature_maps)`` of both."""

    def __init__(self, periods=(2, 3, 5, 7, 11), channel_scale: float = 1.0):
        super().__init__()

        self.mpd = MultiPeriodDiscriminator(periods=tuple(periods), channel_scale=channel_scale)
        self.msd = MultiScaleDiscriminator(channel_scale=channel_scale)

    def forward(self, wav: torch.Tensor):
        s1, f1 = self.mpd(wav)
        s2, f2 = self.msd(wav)
        return list(s1) + list(s2), list(f1) + list(f2)


def _split(xs, n: int):
    return [x[:n] for x in xs], [x[n:] for x in xs]


class HiFiGANTask:
    """Adversarial vocoder training; see the module docstring. ``model`` is the generator."""

    monitor = "mel_l1"

    def __init__(self, discriminator: HiFiGANDiscriminator, fbank: FbankConfig, mel_weight: float = 45.0,
                 fm_weight: float = 2.0, adversarial_start_step: int = 0):
        if adversarial_start_step < 0:
            raise ValueError(f"vocoder.adversarial_start_step={adversarial_start_step}; expected >= 0")
        self.discriminator = discriminator
        self.fbank = fbank
        self.mel_weight, self.fm_weight = mel_weight, fm_weight
        self.adversarial_start_step = int(adversarial_start_step)
        self._step = 0
        self._fake = None

    def set_step(self, step: int) -> None:
        """Called by the Trainer before each batch with the number of optimizer steps done."""
        self._step = int(step)

    @property
    def adversarial(self) -> bool:
        """Whether this step trains against the discriminators (else: mel L1 only, no discriminator update)."""
        return self._step >= self.adversarial_start_step

    def _generate(self, model, batch) -> torch.Tensor:
        return model(batch.mels).squeeze(1)  # (B, T, n_mels) -> (B, 1, T * hop) -> (B, T * hop)

    def discriminator_step(self, model, discriminator, batch) -> dict[str, torch.Tensor]:

        if not self.adversarial:
            return None
        fake = self._generate(model, batch)
        self._fake = fake
        n = batch.wavs.shape[0]
        both = torch.cat([batch.wavs, fake.detach()], 0).unsqueeze(1)
        scores, _ = discriminator(both)
        real, gen = _split(scores, n)
        loss, _ = discriminator_loss(real, gen)
        return {"loss": loss}

    def training_step(self, model, batch) -> dict[str, torch.Tensor]:

        fake = self._fake if self._fake is not None else self._generate(model, batch)
        self._fake = None
        mel = mel_l1_loss(fake, batch.wavs, self.fbank)
        if not self.adversarial:
            return {"loss": self.mel_weight * mel, "mel_l1": mel.detach()}
        n = batch.wavs.shape[0]
        scores, fmaps = self.discriminator(torch.cat([batch.wavs, fake], 0).unsqueeze(1))
        _, gen_scores = _split(scores, n)
        real_f = [[f[:n].detach() for f in fm] for fm in fmaps]
        gen_f = [[f[n:] for f in fm] for fm in fmaps]
        adv = generator_adversarial_loss(gen_scores)
        fm = feature_matching_loss(real_f, gen_f, weight=self.fm_weight)
        loss = adv + fm + self.mel_weight * mel
        return {"loss": loss, "adv": adv.detach(), "fm": fm.detach(), "mel_l1": mel.detach()}

    @torch.no_grad()
    def validation_step(self, model, batch) -> dict[str, float]:
        fake = self._generate(model, batch)
        total, n = 0.0, 0
        for i in range(len(batch)):
            t = int(batch.mel_lens[i])
            m_fake = log_mel(fake[i, : t * self.fbank.hop_length].float(), self.fbank)
            m_real = log_mel(batch.wavs[i, : t * self.fbank.hop_length].float(), self.fbank)
            total += float((m_fake - m_real).abs().mean())
            n += 1
        return {"utts": n, "mel_l1_sum": total}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"mel_l1": sums["mel_l1_sum"] / max(sums["utts"], 1)}

    @torch.no_grad()
    def log_tensorboard(self, writer, model, dev_set, step: int) -> None:
        if dev_set is None or len(dev_set) == 0:
            return
        item = dev_set[0]
        was = model.training
        model.eval()
        wav = self._generate(model, collate_audio_mel([item]).to(next(model.parameters()).device))[0].float().cpu()
        model.train(was)
        writer.add_audio("dev/generated", wav.clamp(-1, 1).unsqueeze(0), step, sample_rate=self.fbank.sample_rate)
        if step <= 0 or not getattr(self, "_logged_real", False):
            writer.add_audio("dev/real", item["wav"].unsqueeze(0), step, sample_rate=self.fbank.sample_rate)
            self._logged_real = True
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
            ax[0].imshow(item["mel"].T.numpy(), origin="lower", aspect="auto", cmap="magma")
            ax[0].set_title("input mel")
            ax[1].imshow(log_mel(wav, self.fbank).T.numpy(), origin="lower", aspect="auto", cmap="magma")
            ax[1].set_title("mel of the generated audio")
            fig.tight_layout()
            writer.add_figure("dev/mels", fig, step)
            plt.close(fig)
        except Exception:  # noqa: BLE001 - plots are a convenience
            pass


@dataclass
class VocoderTrainConfig:
    """HiFi-GAN training (config group ``vocoder``); the mel config is ``features.fbank``."""

    preset: str = "v3"
    """v1 | v2 | v3: the published generator sizes; v1-istft | v2-istft | v3-istft: the same with an
    inverse-STFT output head (about twice as fast). Upsampling is derived from the hop."""
    generator: dict | None = None
    """Overrides of the preset's HiFiGANConfig fields, e.g. {upsample_initial_channel: 64}."""
    channels: int = 0
    """Shortcut for generator.upsample_initial_channel (0 = the preset's width)."""
    discriminator_channel_scale: float = 1.0
    """Width of the discriminators relative to the paper's (0.25 trains ~10x faster on a CPU)."""
    adversarial_start_step: int = 0
    """Steps of generator pre-training on the mel L1 alone before the discriminators join (0 = the
    paper: adversarial from the start). Pre-training steps cost a fraction of an adversarial step."""
    periods: list = None  # type: ignore[assignment]
    mels: str = "ground_truth"
    """ground_truth (mels of the recordings) | teacher_forced (the voice package's output with true
    durations, pitch and energy: fine-tuning for synthesis)."""
    acoustic_model: str = ""
    """Voice package for ``mels=teacher_forced``."""
    init_from: str = ""
    """Vocoder package to start from (fine-tuning); its generator config is used."""
    output_dir: str = ""
    """Default <output_dir>/vocoder."""
    max_utterances: int = 0
    data: VocoderDataConfig = None  # type: ignore[assignment]
    trainer: dict | None = None
    """Overrides of the trainer settings for the vocoder run (lr, betas, max_steps, ...)."""

    def __post_init__(self) -> None:
        self.periods = list(self.periods or [2, 3, 5, 7, 11])
        check_ranges("vocoder", self, channels=GE0, discriminator_channel_scale=GT0, max_utterances=GE0,
                     periods=rule(lambda v: len(v) > 0 and all(p >= 1 for p in v),
                                  "a non-empty list of periods >= 1, e.g. [2, 3, 5, 7, 11]"))
        self.data = VocoderDataConfig(**self.data) if isinstance(self.data, dict) else (self.data or VocoderDataConfig())
        if self.adversarial_start_step < 0:
            raise ValueError(f"vocoder.adversarial_start_step={self.adversarial_start_step}; expected >= 0")
        if self.mels not in ("ground_truth", "teacher_forced"):
            raise ValueError(f"vocoder.mels must be ground_truth or teacher_forced, got {self.mels!r}")
        if self.mels == "teacher_forced" and not self.acoustic_model:
            raise ValueError("vocoder.acoustic_model: mels=teacher_forced needs a voice package path")


@torch.no_grad()
def teacher_forced_mels(package_path: str | Path, examples) -> dict[str, np.ndarray]:
    """The voice's log-mel for each prepared example, with its true durations/pitch/energy."""

    pkg = load_tts_package(package_path)
    out = {}
    for ex in examples:
        ids = torch.from_numpy(ex.phonemes)[None]
        o = pkg.model(ids, torch.tensor([ids.shape[1]]), torch.from_numpy(ex.durations)[None],
                      torch.from_numpy(ex.pitch)[None], torch.from_numpy(ex.energy)[None])
        mel = o.mel_postnet if o.mel_postnet is not None else o.mel
        out[ex.id] = (mel[0] * pkg.mel_std + pkg.mel_mean).numpy()
    return out


def _continue_discriminator(disc: nn.Module, package: Path) -> None:
    """Fine-tuning keeps the discriminators of the run that made ``package`` when its training
    checkpoint is beside it (``<run>/model`` + ``<run>/checkpoints/last.pt``) and has the same shapes:
    a fresh discriminator would first have to relearn what real audio looks like."""

    ckpt_path = package.parent / "checkpoints" / "last.pt"
    if not ckpt_path.is_file():
        log.info("fine-tuning: no %s; the discriminators start fresh", ckpt_path)
        return
    try:
        state = load_checkpoint(ckpt_path).get("discriminator")
        if state is None:
            raise KeyError("no discriminator in the checkpoint")
        disc.load_state_dict(state)
        log.info("fine-tuning: discriminators continue from %s", ckpt_path)
    except (RuntimeError, KeyError) as e:
        log.warning("fine-tuning: discriminators start fresh (%s: %s)", ckpt_path, str(e).splitlines()[0])


def _last_validation(ckpt: dict) -> dict:
    """The last validation entry of a Trainer checkpoint's history (``[step, *metrics]``, named by ``val_keys``)."""
    hist = ckpt.get("history", {})
    val, keys = hist.get("val") or [], hist.get("val_keys") or ["mel_l1"]
    return {"step": val[-1][0], **dict(zip(keys, val[-1][1:]))} if val else {}


def train_vocoder(cfg, stop_at_step: int | None = None):
    """Train HiFi-GAN from a composed config (``vocoder``, ``tts``, ``features``, ``trainer``);
    returns (FitResult, package path)."""
    import dataclasses

    from omegaconf import OmegaConf


    vc = VocoderTrainConfig(**OmegaConf.to_container(cfg.vocoder, resolve=True))
    tts = OmegaConf.to_container(cfg.tts, resolve=True)
    fbank: FbankConfig = instantiate(cfg.features.fbank)
    base: TrainerConfig = instantiate(cfg.trainer)
    tcfg = dataclasses.replace(base, **(vc.trainer or {}))
    resolve_device(tcfg.device)  # before the mels and audio are loaded
    out_dir = Path(vc.output_dir or Path(cfg.output_dir) / "vocoder")
    work = Path(tts.get("work_dir") or Path(cfg.output_dir) / "data")
    if not tts.get("corpus"):
        raise ValueError("tts.corpus: not set; the vocoder trains on the synthesis corpus")

    utts = read_tts_corpus(tts["corpus"], tts.get("layout", "auto"))
    train_utts, test_utts = split_heldout(utts, tts.get("heldout_fraction", 0.05))
    if vc.max_utterances and vc.mels != "teacher_forced":
        train_utts = train_utts[: vc.max_utterances]
    if vc.mels == "teacher_forced":

        # the voice's own prepared targets (same tts.* settings: the cached aligner durations are
        # reused, never recomputed); vocoder.max_utterances only takes a subset of them
        tts.pop("loss", None)
        if not (work / "durations.npz").is_file():
            raise ValueError(f"tts.work_dir: {work} has no durations.npz; mels=teacher_forced needs the voice's prepared "
                             "targets (set tts.work_dir / output_dir to the voice's experiment)")
        prep = prepare_tts(TtsDataConfig(**tts), fbank, work, tcfg, progress=tcfg.progress)
        examples = prep.train + prep.dev
        if vc.max_utterances:
            examples = examples[: vc.max_utterances]
        mels = teacher_forced_mels(vc.acoustic_model, examples)
        keep = {ex.id for ex in examples}
        train_utts = [u for u in train_utts if u.id in keep]
    else:
        exs = [TtsExample(u.id, u.text, np.zeros(1, np.int64), audio=u.audio) for u in train_utts]
        MelCache(work / "mels", fbank).fill(exs, progress=tcfg.progress)
        mels = {ex.id: ex.mel for ex in exs if ex.mel is not None}
    wavs = _load_wavs([u for u in train_utts if u.id in mels], fbank.sample_rate, tcfg.progress)
    ids = [u.id for u in train_utts if u.id in mels and u.id in wavs]
    n_dev = min(vc.data.dev_utterances, max(len(ids) // 10, 1))
    dev_ids, train_ids = ids[-n_dev:], ids[:-n_dev]
    hop = fbank.hop_length
    max_dev = int(vc.data.max_dev_seconds * fbank.sample_rate / hop)
    train_set = AudioMelDataset([(i, mels[i], wavs[i]) for i in train_ids], hop, vc.data.segment_frames)
    dev_set = AudioMelDataset([(i, mels[i][:max_dev], wavs[i][: max_dev * hop]) for i in dev_ids], hop, 0)

    gen_overrides = dict(vc.generator or {})
    if vc.channels:
        gen_overrides["upsample_initial_channel"] = vc.channels
    if vc.init_from:

        vc.preset, gen_overrides = read_vocoder_config(vc.init_from)
    seed_everything(tcfg.seed)
    generator = hifigan_generator(fbank.n_mels, vc.preset, hop, **gen_overrides)
    disc = HiFiGANDiscriminator(vc.periods, vc.discriminator_channel_scale)
    if vc.init_from:
        load_weights(generator, weights_path(vc.init_from))
        _continue_discriminator(disc, Path(vc.init_from))
    task = HiFiGANTask(disc, fbank, adversarial_start_step=vc.adversarial_start_step)
    log.info("HiFi-GAN %s: generator %.2fM, discriminators %.2fM parameters; %d train / %d dev utterances (%s mels)",
             vc.preset, sum(p.numel() for p in generator.parameters()) / 1e6,
             sum(p.numel() for p in disc.parameters()) / 1e6, len(train_set), len(dev_set), vc.mels)
    result = Trainer(tcfg, task, out_dir).fit(generator, train_set, dev_set, collate_audio_mel, vc.data.batch_size,
                                               stop_at_step=stop_at_step)
    package = None
    if stop_at_step is None or result.steps >= stop_at_step:
        # The final generator, not the lowest dev mel L1: the adversarial steps improve what the mel
        # distance does not see (phase, fine structure) and may raise it a little, so "best by mel L1"
        # would pick a generator from before the GAN (mel pre-training) or its first steps.
        src = result.last_checkpoint or result.best_checkpoint
        ckpt = load_checkpoint(src)
        package = save_vocoder_package(out_dir / "model", fbank, {"preset": vc.preset, **gen_overrides},
                                       ckpt["model"], meta={
                                           "checkpoint": src.name, "steps": result.steps,
                                           "train_seconds": round(result.seconds, 1), "mels": vc.mels,
                                           "dev_metrics": ckpt.get("metrics") or _last_validation(ckpt),
                                           "train_utterances": len(train_set),
                                           "corpus": tts["corpus"], "test_ids": [u.id for u in test_utts],
                                           "device": str(tcfg.device)})
        log.info("vocoder package written to %s", package)
    return result, package
