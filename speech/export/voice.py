"""Export a voice package (FastSpeech2) to ONNX graphs for the torch-free runtime.

One graph cannot hold the whole model: the length regulator repeats each phoneme by a duration the
model itself predicts and rounds, which ONNX expresses badly. So a voice becomes two graphs, with
duration rounding, ``speed`` and length regulation done in numpy between them
(:mod:`speech.runtime.tts`)::

    encoder.onnx  phonemes (B, L) int64, phoneme_lens (B,) int64, [speakers (B,) int64,]
                  pitch_shift () float, energy_scale () float
                  -> hidden (B, L, H) (pitch / energy embeddings added), log_duration (B, L),
                     pitch (B, L), energy (B, L)
    decoder.onnx  frames (B, T, H) (regulated, zero past mel_lens), positions (B, T, 2) (place inside
                  the phoneme, log(1 + duration)), mel_lens (B,) int64
                  -> mel (B, T, n_mels): natural-log mel power (the voice's statistics undone)
    g2p.onnx      the neural G2P fallback the torch front end would use (letters -> CTC ids), so
                  the runtime reads unknown words the same way; absent when the front end has none

Side files: ``tokenizer.json`` and ``stats.json`` from the package. ``meta.json`` carries the mel
config (``features``), the voice's sizes and the Griffin-Lim settings (``vocoder``).

Parity is measured at export time on :data:`PARITY_SENTENCES`: the torch model and the graphs are
given the same phonemes; durations must agree, and the mel mean absolute difference (log-mel) is
reported for the fp32 graphs and, with ``--int8``, for the quantized ones (int8 durations are
rounded from a slightly different prediction, so the int8 mel difference is measured with the
torch durations imposed and the duration agreement reported beside it).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speech.export.common import (ExportError, ExportResult, check_opset, export_graph, quantize_int8,
                                  write_export)
from speech.models.tts.fastspeech2 import FastSpeech2
from speech.packages.format import PackageError
from speech.packages.voice import load_tts_package
from speech.runtime.format import ExportFormatError, is_onnx_export
from speech.runtime.synthesis import synthesis_defaults
from speech.text.frontend import VoiceFrontend
from speech.text.g2p import G2P
from speech.text.g2p_neural import G2PNet

__all__ = ["PARITY_SENTENCES", "export_voice"]

PARITY_SENTENCES = (
    "Hello, world.",
    "The quick brown fox jumps over the lazy dog; then it rests.",
    "Author of the danger trail, Philip Steels, etc.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "Can you read zyxqwt and blorptastic words?",
    "Seventy-two people arrived at 4 pm on March 3rd, 1999!",
)
"""The fixed sentences parity is measured on (two with words no dictionary has, for the G2P graph)."""


def _mask(lens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    steps = torch.arange(like.shape[1], device=lens.device)
    return (steps.unsqueeze(0) < lens.unsqueeze(1)).unsqueeze(-1).to(torch.float32)


def _embed(emb: nn.Module, value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``_ValueEmbedding`` with bucketize spelled as a comparison count (ONNX has no bucketize):
    ``bucketize(v, b)`` (right=False) is the number of boundaries strictly below ``v``."""
    if emb.kind == "bins":
        ids = (value.unsqueeze(-1) > emb.boundaries.to(value.dtype)).to(torch.int64).sum(-1)
        return emb.table(ids) * mask
    return emb(value, mask)


class EncoderGraph(nn.Module):
    """FastSpeech2 up to the variance adaptor's embeddings (see the module docstring)."""

    def __init__(self, model: FastSpeech2):
        super().__init__()
        self.m = model

    def forward(self, phonemes, phoneme_lens, pitch_shift, energy_scale, speakers=None):
        m = self.m
        fmask = _mask(phoneme_lens, phonemes)
        x = m.embedding(phonemes * fmask.squeeze(-1).to(phonemes.dtype)) * fmask
        x = m.encoder(x, phoneme_lens)
        if m.speaker_embedding is not None:
            x = x + m.speaker_embedding(speakers).unsqueeze(1) * fmask
        log_duration = m.duration_predictor(x, fmask)
        pitch = m.pitch_predictor(x, fmask)
        energy = m.energy_predictor(x, fmask)
        flat = fmask.squeeze(-1)
        x = x + _embed(m.pitch_embedding, (pitch + pitch_shift) * flat, fmask)
        x = x + _embed(m.energy_embedding, (energy * energy_scale) * flat, fmask)
        return x, log_duration, pitch, energy


class DecoderGraph(nn.Module):
    """FastSpeech2 from the regulated frames to the de-normalized log-mel."""

    def __init__(self, model: FastSpeech2, mel_mean: torch.Tensor, mel_std: torch.Tensor):
        super().__init__()
        self.m = model
        self.register_buffer("mean", mel_mean.float().cpu())
        self.register_buffer("std", mel_std.float().cpu())

    def forward(self, frames, positions, mel_lens):
        m = self.m
        mask = _mask(mel_lens, frames)
        if m.frame_position is not None:
            frames = frames + m.frame_position(positions) * mask
        y = m.decoder(frames, mel_lens)
        mel = m.mel_linear(y) * mask
        if m.postnet is not None:
            mel = mel + m.postnet(mel, mask)
        return mel * self.std + self.mean


class G2PGraph(nn.Module):
    """The G2P fallback's network: letter ids (B, T), lengths (B,) -> best CTC class per frame (B, T * up)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, letters, lengths):
        net = self.net
        h = net.embed(letters)
        b, t, e = h.shape[0], h.shape[1], h.shape[2]
        h = h.unsqueeze(2).expand(b, t, net.upsample, e).reshape(b, t * net.upsample, e)  # repeat_interleave
        lens = lengths * net.upsample
        packed = nn.utils.rnn.pack_padded_sequence(h, lens.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = net.rnn(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=h.shape[1])
        return net.out(y).argmax(-1), lens


def _check_exportable(pkg) -> None:
    model = pkg.model
    if not isinstance(model, FastSpeech2):
        raise ExportError(f"{pkg.path / 'config.yaml'}: model.tts is a {type(model).__name__}; only FastSpeech2 "
                          "voices can be exported")


def _export_g2p(g2p: G2P, tmp: Path, opset: int) -> dict | None:
    """g2p.onnx and its settings, or None when the front end guesses with the rule table."""
    net: G2PNet | None = g2p.model
    if net is None:
        return None
    x, lens = net.encode_words(["hello", "ab"])
    export_graph(G2PGraph(net.net), (x, lens), tmp / "g2p.onnx", input_names=["letters", "lengths"],
                 output_names=["best", "frame_lens"],
                 dynamic_axes={"letters": {0: "batch", 1: "letters"}, "lengths": {0: "batch"},
                               "best": {0: "batch", 1: "frames"}, "frame_lens": {0: "batch"}}, opset=opset)
    return {"graph": "g2p.onnx", "letters": net.letters, "phonemes": list(net.phonemes)}


def _parity_ids(pkg, g2p: G2P) -> list[list[int]]:
    frontend = VoiceFrontend(pkg.tokenizer, g2p)
    out = []
    for text in PARITY_SENTENCES:
        for _, ids, _ in frontend.sentences(text)[0]:
            out.append(ids + [pkg.tokenizer.eos_id])
    return out


def _measure(pkg, folder: Path, meta: dict, ids_list: list[list[int]], g2p: G2P) -> dict:
    """Mel MAD and duration agreement of the graphs in ``folder`` against the torch model."""
    from speech.runtime.tts import OnnxVoice  # noqa: PLC0415 - the runtime only when measuring

    voice = OnnxVoice(folder, meta, threads=1)
    diffs, frames, same, total, g2p_same, g2p_total = 0.0, 0, 0, 0, 0, 0
    with torch.inference_mode():
        for ids in ids_list:
            x = torch.tensor([ids])
            spk = torch.tensor([0]) if pkg.model.speaker_embedding is not None else None
            out = pkg.model(x, torch.tensor([len(ids)]), speakers=spk)
            mel = out.mel_postnet if out.mel_postnet is not None else out.mel
            ref = (mel * pkg.mel_std + pkg.mel_mean)[0].numpy()
            dur = out.durations_used[0].numpy()
            got = voice.acoustic([ids], durations=[dur])[0]
            diffs += float(np.abs(got["mel"] - ref).sum())
            frames += ref.size
            free = voice.acoustic([ids])[0]
            same += int((free["durations"] == dur).sum())
            total += len(dur)
    words = ["zyxqwt", "blorptastic", "quarkle", "smithsonianish", "o'flannery"]
    if voice.g2p is not None and g2p.model is not None:
        ref_words = g2p.model.predict(words)
        got_words = voice.g2p.predict(words)
        g2p_same = sum(a == b for a, b in zip(ref_words, got_words))
        g2p_total = len(words)
    result = {"mel_mad": float(f"{diffs / max(frames, 1):.3g}"), "duration_agreement": round(same / max(total, 1), 4),
              "sentences": len(ids_list)}
    if g2p_total:
        result["g2p_words_equal"] = f"{g2p_same}/{g2p_total}"
    return result


def export_voice(src: Path, out: Path, *, int8: bool, opset: int, measure: bool = True,
                 command: str = "") -> ExportResult:
    """Export the voice package ``src`` into the folder ``out`` (see the module docstring).

    Raises:
        ExportError: one line: the package cannot be read (missing or malformed file), is an export
            already, or holds a model the graphs cannot express.
    """
    src = Path(src)
    if is_onnx_export(src):
        raise ExportError(f"{src}: is an ONNX export already; export the voice package it came from")
    opset = check_opset(opset)
    try:
        pkg = load_tts_package(src)
    except (PackageError, ExportFormatError, FileNotFoundError, ValueError, TypeError) as e:
        raise ExportError(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
    _check_exportable(pkg)
    model, cfg = pkg.model.eval(), pkg.model.cfg
    g2p = G2P()  # the front end the torch Synthesizer uses (default_g2p's settings)
    precision = "int8" if int8 else "fp32"

    def build(tmp: Path) -> dict:
        h = cfg.hidden_size
        multi = model.speaker_embedding is not None
        ids = torch.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0]])
        lens = torch.tensor([5, 3])
        args = (ids, lens, torch.tensor(0.0), torch.tensor(1.0)) + ((torch.tensor([0, 0]),) if multi else ())
        names = ["phonemes", "phoneme_lens", "pitch_shift", "energy_scale"] + (["speakers"] if multi else [])
        axes = {"phonemes": {0: "batch", 1: "phonemes"}, "phoneme_lens": {0: "batch"},
                **({"speakers": {0: "batch"}} if multi else {}),
                **{k: {0: "batch", 1: "phonemes"} for k in ("hidden", "log_duration", "pitch", "energy")}}
        export_graph(EncoderGraph(model), args, tmp / "encoder.onnx", input_names=names,
                     output_names=["hidden", "log_duration", "pitch", "energy"], dynamic_axes=axes, opset=opset)
        frames = torch.randn(2, 7, h)
        export_graph(DecoderGraph(model, pkg.mel_mean, pkg.mel_std), (frames, torch.rand(2, 7, 2), torch.tensor([7, 4])),
                     tmp / "decoder.onnx", input_names=["frames", "positions", "mel_lens"], output_names=["mel"],
                     dynamic_axes={"frames": {0: "batch", 1: "frames"}, "positions": {0: "batch", 1: "frames"},
                                   "mel_lens": {0: "batch"}, "mel": {0: "batch", 1: "frames"}}, opset=opset)
        g2p_meta = _export_g2p(g2p, tmp, opset)
        for name in ("tokenizer.json", "stats.json"):
            shutil.copyfile(src / name, tmp / name)
        stats = json.loads((src / "stats.json").read_text(encoding="utf-8"))
        post = synthesis_defaults(pkg.meta, str(src / "meta.json"))  # the voice's post-processing travels with it
        meta = {"graphs": {"encoder": "encoder.onnx", "decoder": "decoder.onnx",
                           **({"g2p": "g2p.onnx"} if g2p_meta else {})},
                "features": pkg.fbank.runtime_settings(),
                "voice": {"hidden_size": h, "n_speakers": int(cfg.n_speakers), "n_mels": int(pkg.fbank.n_mels),
                          "max_frames": int(cfg.max_frames), "frame_position": bool(cfg.frame_position),
                          "pitch_mean": float(stats["pitch_mean"]), "pitch_std": float(stats["pitch_std"]),
                          "tokenizer": "tokenizer.json", "stats": "stats.json",
                          "name": (pkg.meta.get("bundled") or {}).get("name") if isinstance(pkg.meta, dict) else None,
                          "mel_contrast": post["mel_contrast"]},
                "g2p": g2p_meta,
                "vocoder": {"kind": "griffin-lim", "n_iter": 32, "momentum": 0.99,
                            "power": post["griffin_lim_power"], "mel_iter": 30, "seed": 0}}
        ids_list = _parity_ids(pkg, g2p) if measure else []
        parity = {}
        if measure:
            fp32 = _measure(pkg, tmp, meta, ids_list, g2p)
            parity.update({f"fp32_{k}": v for k, v in fp32.items()})
        if int8:
            for role in ("encoder", "decoder"):
                f = tmp / f"{role}.onnx"
                quantize_int8(f, tmp / f"{role}.int8.onnx")
                f.unlink()
                (tmp / f"{role}.int8.onnx").rename(f)
            if measure:
                q = _measure(pkg, tmp, meta, ids_list, g2p)
                parity.update({f"int8_{k}": v for k, v in q.items() if k != "g2p_words_equal"})
        if measure:
            parity["measured_on"] = (f"{len(ids_list)} sentences of speech.export.voice.PARITY_SENTENCES; mel MAD "
                                     "in natural-log mel units with the torch durations imposed")
        meta["parity"] = parity
        return meta

    return write_export(out, src, "tts", precision, opset, build, command)
