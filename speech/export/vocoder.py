"""Export a HiFi-GAN vocoder package to ONNX for the torch-free runtime.

``vocoder.onnx``: mel (B, T, n_mels) natural-log mel power -> for the waveform head, wav (B, T * hop)
in [-1, 1]; for the inverse-STFT presets (``*-istft``), the head's output spec (B, n_fft + 2, N)
(log-magnitudes, then phases before ``pi * sin``), whose inverse STFT the runtime computes in numpy
(ONNX has no inverse STFT). Weight norm is folded first. ``meta.json`` carries the mel config
(``features``, which the voice's must equal) and ``istft`` (``{"n_fft", "hop"}`` or null).

Parity (measured at export): mean absolute difference of the waveforms torch vs ONNX on fixed
random mels; with ``--int8`` also for the quantized graph (the convolutions stay float: dynamic
quantization covers MatMul/Gemm/LSTM, which a HiFi-GAN has few of).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from speech.export.common import (ExportError, ExportResult, check_opset, export_graph, quantize_int8,
                                  write_export)
from speech.packages.format import PackageError
from speech.packages.vocoder import HiFiGANVocoder
from speech.runtime.format import ExportFormatError, is_onnx_export

__all__ = ["export_vocoder"]


class GeneratorGraph(nn.Module):
    """The generator up to its waveform (tanh head) or up to the inverse-STFT head's input."""

    def __init__(self, gen: nn.Module):
        super().__init__()
        self.gen = gen

    def forward(self, mel):
        g = self.gen
        if not g.cfg.istft_n_fft:
            return g(mel).squeeze(1).clamp(-1.0, 1.0)
        x = g.conv_pre(mel.transpose(1, 2))
        nk = g.num_kernels
        for i, up in enumerate(g.ups):
            x = up(nn.functional.leaky_relu(x, 0.1))
            xs = g.resblocks[i * nk](x)
            for j in range(1, nk):
                xs = xs + g.resblocks[i * nk + j](x)
            x = xs / nk
        return g.conv_post(nn.functional.leaky_relu(x))


def _measure(voc: HiFiGANVocoder, folder: Path, meta: dict) -> dict:
    from speech.runtime.vocoder import OnnxVocoder  # noqa: PLC0415 - the runtime only when measuring

    runtime = OnnxVocoder(folder, meta, threads=1)
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(2, 40, voc.fbank.n_mels, generator=g) * 2.0 - 6.0
    lens = torch.tensor([40, 25])
    ref = voc(mel, lens).numpy()
    got = runtime(mel.numpy(), lens.numpy())
    return {"wav_mad": round(float(np.abs(ref - got).mean()), 7), "wav_max_diff": round(float(np.abs(ref - got).max()), 6)}


def export_vocoder(src: Path, out: Path, *, int8: bool, opset: int, measure: bool = True,
                   command: str = "") -> ExportResult:
    """Export the vocoder package ``src`` into ``out`` (see the module docstring).

    Raises:
        ExportError: one line: the package cannot be read (missing or malformed file) or is an export already.
    """
    src = Path(src)
    if is_onnx_export(src):
        raise ExportError(f"{src}: is an ONNX export already; export the vocoder package it came from")
    opset = check_opset(opset)
    try:
        voc = HiFiGANVocoder.from_package(src)
    except (PackageError, ExportFormatError, FileNotFoundError, ValueError, TypeError) as e:
        raise ExportError(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
    gen = voc.generator.eval()
    cfg = gen.cfg

    def build(tmp: Path) -> dict:
        export_graph(GeneratorGraph(gen), (torch.randn(1, 12, voc.fbank.n_mels),), tmp / "vocoder.onnx",
                     input_names=["mel"], output_names=["wav" if not cfg.istft_n_fft else "spec"],
                     dynamic_axes={"mel": {0: "batch", 1: "frames"},
                                   ("wav" if not cfg.istft_n_fft else "spec"): {0: "batch", 1 + bool(cfg.istft_n_fft): "samples"}},
                     opset=opset)
        meta = {"graphs": {"vocoder": "vocoder.onnx"}, "features": voc.fbank.runtime_settings(),
                "istft": {"n_fft": int(cfg.istft_n_fft), "hop": int(cfg.istft_hop)} if cfg.istft_n_fft else None}
        parity = {}
        if measure:
            parity.update({f"fp32_{k}": v for k, v in _measure(voc, tmp, meta).items()})
        if int8:
            quantize_int8(tmp / "vocoder.onnx", tmp / "vocoder.int8.onnx")
            (tmp / "vocoder.int8.onnx").replace(tmp / "vocoder.onnx")
            if measure:
                parity.update({f"int8_{k}": v for k, v in _measure(voc, tmp, meta).items()})
        if measure:
            parity["measured_on"] = "2 fixed random mels (40 and 25 frames); waveform samples in [-1, 1]"
        meta["parity"] = parity
        return meta

    return write_export(out, src, "vocoder", "int8" if int8 else "fp32", opset, build, command)
