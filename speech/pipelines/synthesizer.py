"""Text -> waveform with a torch voice package and a vocoder.

:class:`Synthesizer` runs the acoustic model and the vocoder with torch; the text side, batching,
joining and sentence silence are :class:`speech.runtime.synthesis.SynthesizerCore`'s, shared with
the ONNX runtime (:class:`speech.runtime.tts.OnnxSynthesizer`). ``check_controls``,
``SynthesisResult`` and ``plot_synthesis`` are importable from here as before.
"""
from __future__ import annotations

from pathlib import Path

import torch

from speech.models.tts.fastspeech2 import semitones_to_normalized  # noqa: F401 - importable from here as before
from speech.models.vocoders.base import Vocoder
from speech.packages.vocoder import load_vocoder
from speech.packages.voice import TtsPackage, load_tts_package
from speech.runtime.synthesis import (  # noqa: F401 - the shared orchestration, importable from here
    ENERGY_SCALE_MAX,
    PITCH_SHIFT_RANGE,
    SENTENCE_SILENCE_MAX,
    SPEED_RANGE,
    SynthesisResult,
    SynthesizerCore,
    _split_long,
    check_controls,
    check_synthesis_setting,
    plot_synthesis,
    synthesis_defaults,
)
from speech.text.g2p import default_g2p

__all__ = ["SynthesisResult", "Synthesizer", "check_controls", "plot_synthesis"]


class Synthesizer(SynthesizerCore):
    """Synthesize speech with a torch voice package.

    Args:
        package: a :class:`TtsPackage` or the path of one (an ONNX export is refused: it runs with
            :class:`speech.runtime.tts.OnnxSynthesizer`).
        vocoder: ``"griffin-lim"``, a vocoder package folder (loaded onto ``device``) or a
            :class:`Vocoder` (its mel config must match the package's).
        device: torch device for the acoustic model and vocoder.
        max_tokens: longest piece (phoneme tokens) given to the model at once.
        batch_size: pieces per model / vocoder batch.
        mel_contrast: scale of each mel band's variation around its utterance mean before vocoding
            (:func:`speech.runtime.synthesis.mel_contrast`); None: the package's ``meta.json``
            ``synthesis.mel_contrast``, else 1 (off). With ``vocoder="griffin-lim"`` the package's
            ``synthesis.griffin_lim_power`` (default 1) is Griffin-Lim's magnitude exponent.
    """

    def __init__(self, package: TtsPackage | str | Path, vocoder: str | Vocoder = "griffin-lim",
                 device: str = "cpu", g2p=None, max_tokens: int = 250, batch_size: int = 8,
                 mel_contrast: float | None = None):
        self.package = package if isinstance(package, TtsPackage) else load_tts_package(package, device)
        self.device = torch.device(device)
        settings = synthesis_defaults(self.package.meta, str(Path(self.package.path) / "meta.json"))
        self.mel_contrast = settings["mel_contrast"] if mel_contrast is None else \
            check_synthesis_setting("mel_contrast", mel_contrast, "mel_contrast")
        self.vocoder = vocoder if isinstance(vocoder, Vocoder) else load_vocoder(
            vocoder, self.package.fbank, device=device, power=settings["griffin_lim_power"])
        for net in (self.package.model, getattr(self.vocoder, "generator", None)):  # HiFi-GAN has one
            if isinstance(net, torch.nn.Module):  # inference only: no call records autograd state
                net.eval().requires_grad_(False)
        self.vocoder.check_compatible(self.package.fbank)
        super().__init__(self.package.tokenizer, g2p or default_g2p(), max_tokens, batch_size)

    @property
    def sample_rate(self) -> int:
        return self.package.sample_rate

    @property
    def hop_length(self) -> int:
        return self.vocoder.hop_length

    @property
    def hop_seconds(self) -> float:
        return self.package.fbank.hop_ms / 1000.0

    @property
    def pitch_std(self) -> float:
        return self.package.stats.pitch_std

    @property
    def n_speakers(self) -> int:
        """Speakers the voice can speak as (ids ``0 .. n_speakers - 1``)."""
        cfg = getattr(self.package.model, "cfg", None)
        return int(getattr(cfg, "n_speakers", 1) or 1)

    @property
    def voice_name(self) -> str:
        """The bundled voice's name, or the package folder, for messages."""
        bundled = self.package.meta.get("bundled") if isinstance(self.package.meta, dict) else None
        name = bundled.get("name") if isinstance(bundled, dict) else None
        return str(name) if isinstance(name, str) and name else str(self.package.path)

    @torch.inference_mode()
    def _batch(self, ids: list[list[int]], speaker: int | None, speed: float, pitch_shift: float,
               energy_scale: float) -> list[dict]:
        pkg = self.package
        seqs = [torch.tensor(q, dtype=torch.long) for q in ids]
        lens = torch.tensor([len(q) for q in seqs], device=self.device)
        x = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True).to(self.device)
        speakers = torch.full((len(ids),), speaker, dtype=torch.long, device=self.device) \
            if speaker is not None else None
        out = pkg.model(x, lens, speakers=speakers, speed=speed, pitch_shift=pitch_shift, energy_scale=energy_scale)
        mel = out.mel_postnet if out.mel_postnet is not None else out.mel
        mel = mel * pkg.mel_std + pkg.mel_mean
        if self.mel_contrast != 1.0:  # the same as runtime.synthesis.mel_contrast, row by row
            for j, n in enumerate(out.mel_lens.tolist()):
                mu = mel[j, :n].mean(dim=0, keepdim=True)
                mel[j, :n] = mu + self.mel_contrast * (mel[j, :n] - mu)
        wav = self.vocoder(mel, out.mel_lens)
        pitch_hz = torch.exp(pkg.stats.denormalize("pitch", out.pitch_pred + pitch_shift))
        results = []
        for j in range(len(ids)):
            n, length = int(out.mel_lens[j]), int(lens[j])
            results.append({"mel": mel[j, :n].float().cpu().numpy(),
                            "wav": wav[j, : self.vocoder.num_samples(n)].float().cpu().numpy(),
                            "durations": out.durations_used[j, :length].cpu().numpy(),
                            "f0_hz": pitch_hz[j, :length].float().cpu().numpy()})
        return results
