"""Streaming recognition with a torch model package (a unidirectional BiLSTM-CTC).

:class:`TorchStreamRecognizer` is :class:`speech.runtime.stream.StreamRecognizer` around
:class:`speech.models.asr.bilstm.StreamingStep`: the same numpy feature streamer and frame stacker as
the ONNX runtime, with nn.LSTM states carried from chunk to chunk. Partial texts are greedy CTC of
the frames so far; the final text is the offline Transcriber's decoding (the package's recommended
decoding, or ``decoding``) of all log-probs, so it equals ``speech transcribe`` of the same audio.

Example::

    rec = TorchStreamRecognizer("exp/fsdd_stream/model")
    for chunk in chunks:                  # float32 mono at rec.sample_rate
        partial = rec.accept(chunk)       # new partial text or None
    print(rec.finish().text)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from speech.models.asr.bilstm import BiLSTMCTC, StreamingStep
from speech.packages.asr import AsrPackage
from speech.pipelines.transcriber import Transcriber
from speech.runtime.stream import StreamRecognizer

__all__ = ["NotStreamableError", "TorchStreamRecognizer", "streaming_problem"]

TRAIN_HINT = ("python recipes/fsdd/run.py --streaming, python recipes/an4/run.py --streaming --skip-ce, or "
              "speech train ... model.asr.bidirectional=false")


class NotStreamableError(ValueError):
    """A package whose model cannot run on a stream (bidirectional, or not a BiLSTM-CTC)."""


def streaming_problem(pkg: AsrPackage) -> str | None:
    """Why ``pkg`` cannot stream, as one line naming it, or None when it can."""
    model = pkg.model
    if not isinstance(model, BiLSTMCTC):
        return f"{pkg.path}: its model ({type(model).__name__}) cannot stream; --stream needs a unidirectional BiLSTM-CTC"
    if model.cfg.bidirectional:
        return (f"{pkg.path}: is a bidirectional model, which needs the whole utterance; --stream needs a "
                f"unidirectional model (model.asr.bidirectional=false), trained with: {TRAIN_HINT}")
    return None


class TorchStreamRecognizer(StreamRecognizer):
    """A torch ASR package (path, name or loaded Transcriber) on a stream; see the module docstring.

    Raises:
        NotStreamableError: the package's model is bidirectional (one line saying how to train one that is not).
    """

    def __init__(self, package: str | Path | Transcriber, decoding: DictConfig | None = None, name: str = "<stream>"):
        tr = package if isinstance(package, Transcriber) else Transcriber(package, decoding=decoding)
        problem = streaming_problem(tr.pkg)
        if problem is not None:
            raise NotStreamableError(problem)
        self.transcriber = tr
        self.step = StreamingStep(tr.pkg.model).eval()
        tok = tr.pkg.tokenizer
        super().__init__(tr.pkg.fbank.runtime_settings(), tr.pkg.model.cfg.stack_frames, tok.blank_id, tok.decode,
                         self._decode_final, name, tr.segment)

    def _reset_states(self) -> None:
        self._h, self._c = self.step.initial_state()

    @torch.inference_mode()
    def _forward(self, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        # oneDNN's LSTM costs ~5x torch's own kernel on chunks of a few frames (3.6 vs 0.75 ms a step, FSDD model)
        onednn = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            lp, self._h, self._c = self.step(torch.from_numpy(x)[None], torch.from_numpy(keep)[None], self._h, self._c)
        finally:
            torch.backends.mkldnn.enabled = onednn
        return lp[0].numpy()

    def _decode_final(self, log_probs: np.ndarray) -> str:
        """The offline Transcriber's decoding of (T, V) log-probs."""
        return self.transcriber.decode(log_probs[None], np.array([log_probs.shape[0]]))[0]
