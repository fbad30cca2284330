"""The neural G2P fallback through onnxruntime: the runtime's copy of :class:`speech.text.g2p_neural.G2PNet`.

``g2p.onnx`` (written by :mod:`speech.export.voice`) maps letter ids (B, T) and lengths (B,) to the
best CTC class per frame; greedy CTC decoding (merge repeats, drop blanks) happens here.
:class:`OnnxG2P` plugs into :class:`speech.text.g2p.G2P` in place of the torch network, so the
dictionary, the rules and the word splitting stay the one implementation the torch path uses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from speech.runtime.format import ExportFormatError, session
from speech.text.g2p import G2P

__all__ = ["OnnxG2P", "RuntimeG2P"]


def _collapse(ids: list[int]) -> list[int]:
    return [k for j, k in enumerate(ids) if k != 0 and (j == 0 or k != ids[j - 1])]


class OnnxG2P:
    """``predict(words) -> phoneme lists`` with the exported network (same contract as ``G2PNet.predict``)."""

    def __init__(self, graph: Path, settings: dict, threads: int | None = None):
        letters, phonemes = settings.get("letters"), settings.get("phonemes")
        if not isinstance(letters, str) or not letters or not isinstance(phonemes, list) or not phonemes:
            raise ExportFormatError(f"{graph.parent / 'meta.json'}: g2p: expected letters and phonemes")
        self.letters, self.phonemes = letters, [str(p) for p in phonemes]
        self._index = {c: i + 1 for i, c in enumerate(letters)}
        self.session = session(graph, threads)

    def predict(self, words: list[str], batch_size: int = 512) -> list[list[str]]:
        out: list[list[str]] = []
        for s in range(0, len(words), batch_size):
            chunk = words[s:s + batch_size]
            ids = [[self._index[c] for c in w if c in self._index] or [self._index.get("'", 1)] for w in chunk]
            x = np.zeros((len(ids), max(len(q) for q in ids)), np.int64)
            for i, q in enumerate(ids):
                x[i, :len(q)] = q
            lens = np.array([len(q) for q in ids], np.int64)
            best, frame_lens = self.session.run(None, {"letters": x, "lengths": lens})
            for row, n in zip(best.tolist(), frame_lens.tolist()):
                out.append([self.phonemes[k - 1] for k in _collapse(row[:n]) if 0 < k <= len(self.phonemes)])
        return out


class RuntimeG2P(G2P):
    """:class:`speech.text.g2p.G2P` whose neural fallback is an :class:`OnnxG2P` (None: the rule table)."""

    def __init__(self, model: OnnxG2P | None):
        super().__init__(fallback=None)
        self._onnx = model

    @property
    def model(self):  # the ONNX network in place of the torch one
        return self._onnx
