"""Recognition with an ONNX export, without torch: :class:`OnnxTranscriber`.

The export (``speech export MODEL --format onnx``) holds ``model.onnx`` (log-mel features (B, T, F)
and lengths (B,) -> CTC log-probs (B, T', V) and lengths: CMVN, frame stacking, the LSTMs and the
output layer are in the graph), the tokenizer, the feature settings, and the package's recommended
decoding (with its LM file). Features are computed in numpy (:mod:`speech.runtime.features`),
decoding and word times with :mod:`speech.decoding`; everything around them (silence, batching,
long files) is :class:`~speech.runtime.transcribe.BaseTranscriber`'s, the same code as the torch path.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from speech.decoding.align import token_spans, viterbi_states, word_spans
from speech.decoding.beam import BeamSearchConfig, make_decoder
from speech.decoding.greedy import GreedyCTCDecoder
from speech.runtime.features import check_features, log_mel
from speech.runtime.format import ExportFormatError, OnnxExport, read_export, session
from speech.runtime.segment import SegmentConfig
from speech.runtime.transcribe import BaseTranscriber, word_dicts
from speech.text.tokenizer import CharTokenizer

__all__ = ["OnnxTranscriber", "decoding_settings", "export_decoding"]

_SETTING_KEYS = ("beam_size", "lm_weight", "word_bonus", "prune_logp", "lm", "lexicon")


def _value(text: str):
    """A ``decoding.KEY=VALUE`` value: int, float, null, or the string itself."""
    if text.lower() in ("null", "none"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def decoding_settings(overrides: Sequence[str] = (), **values) -> BeamSearchConfig | GreedyCTCDecoder | None:
    """The command line's decoding words (``decoding=beam``, ``decoding.beam_size=8``) and shortcut
    values (``lm=...``) as built settings, without Hydra; None when nothing is asked (the export's
    recommended decoding then). A shortcut without ``decoding=`` selects beam search, as on the torch path.

    Raises:
        ValueError: one line naming the ``decoding.*`` key.
    """
    choice, settings = None, {}
    for word in overrides:
        key, _, text = word.partition("=")
        if key == "decoding":
            if text not in ("greedy", "beam"):
                raise ValueError(f"decoding={text}: expected decoding=greedy or decoding=beam")
            choice = text
        elif key.startswith("decoding.") and key[len("decoding."):] in _SETTING_KEYS:
            settings[key[len("decoding."):]] = _value(text)
        else:
            raise ValueError(f"{key}: not a decoding setting of the ONNX runtime; expected decoding=greedy|beam or "
                             f"decoding.KEY=VALUE with KEY one of {', '.join(_SETTING_KEYS)}")
    settings.update({k: v for k, v in values.items() if v is not None})
    if choice is None and not settings:
        return None
    if (choice or "beam") == "greedy":
        if settings:
            raise ValueError(f"decoding=greedy takes no settings; got {', '.join(sorted(settings))} "
                             "(expected decoding=beam)")
        return GreedyCTCDecoder()
    try:
        return BeamSearchConfig(**settings)
    except TypeError as e:
        raise ValueError(f"decoding: {e}") from None


def export_decoding(export: OnnxExport) -> BeamSearchConfig | GreedyCTCDecoder | None:
    """The decoding an export recommends (its package's ``decoding``, file names inside the export), or None.

    Raises:
        ExportFormatError: the entry is malformed or names a file the export lacks.
    """
    rec = export.meta.get("decoding")
    where = export.path / "meta.json"
    if rec is None:
        return None
    if not isinstance(rec, Mapping):
        raise ExportFormatError(f"{where}: decoding: expected an object of decoding settings")
    values = {k: v for k, v in rec.items() if k != "decoding"}
    if rec.get("decoding", "beam") == "greedy":
        return GreedyCTCDecoder()
    unknown = sorted(set(values) - set(_SETTING_KEYS))
    if unknown:
        raise ExportFormatError(f"{where}: decoding.{unknown[0]}: not a decoding setting; expected "
                                f"{', '.join(_SETTING_KEYS)}")
    for key in ("lm", "lexicon"):
        if values.get(key):
            values[key] = str(export.file(values[key]))
    try:
        return BeamSearchConfig(**values)
    except (TypeError, ValueError) as e:
        raise ExportFormatError(f"{where}: decoding: {e}") from None


class OnnxTranscriber(BaseTranscriber):
    """CTC transcription with an ONNX export (see the module); the interface of the torch Transcriber.

    Example::

        tr = OnnxTranscriber("exports/an4")
        print(tr.transcribe_file("clip.wav").text)
    """

    def __init__(self, model: str | os.PathLike, batch_size: int = 16, segment: SegmentConfig | None = None,
                 decoding: BeamSearchConfig | GreedyCTCDecoder | None = None, threads: int | None = None):
        """``decoding``: built settings (:func:`decoding_settings`); None: the export's recommended decoding,
        else greedy. ``threads``: onnxruntime intra-op threads (None: its default)."""
        super().__init__(batch_size, segment)
        self.export = read_export(model, "asr")
        meta, where = self.export.meta, self.export.path / "meta.json"
        self.fb = check_features(meta.get("features"), f"{where}: features")
        reduction = meta.get("time_reduction")
        if not isinstance(reduction, int) or isinstance(reduction, bool) or reduction < 1:
            raise ExportFormatError(f"{where}: time_reduction: {reduction!r}; expected a whole number >= 1")
        self.time_reduction = reduction
        self.sample_rate = self.fb["sample_rate"]
        self.win_length, self.hop_length = self.fb["win_length"], self.fb["hop_length"]
        self.tokenizer = CharTokenizer.load(self.export.file(meta.get("tokenizer", "tokenizer.json")))
        if "model" not in self.export.graphs:
            raise ExportFormatError(f"{where}: graphs: no 'model' graph (an offline recognizer's model.onnx)")
        self.session = session(self.export.graphs["model"], threads)
        built = decoding if decoding is not None else export_decoding(self.export)
        self.decoder = make_decoder(built, self.tokenizer) if built is not None else None
        self.frame_seconds = self.hop_length * self.time_reduction / self.sample_rate

    @property
    def path(self) -> Path:
        return self.export.path

    def _log_probs(self, wavs: Sequence[np.ndarray]):
        feats = [log_mel(w, self.fb) for w in wavs]
        lens = np.array([f.shape[0] for f in feats], dtype=np.int64)
        x = np.zeros((len(feats), int(lens.max()), self.fb["n_mels"]), dtype=np.float32)
        for i, f in enumerate(feats):
            x[i, : len(f)] = f
        log_probs, out_lens = self.session.run(None, {"feats": x, "feat_lens": lens})
        return log_probs, out_lens

    def _words(self, log_probs, text: str, offset: float) -> list[dict]:
        tok = self.tokenizer.encode(text) if text else []
        if not tok:
            return []
        states, score = viterbi_states(log_probs, tok, self.tokenizer.blank_id)
        if not np.isfinite(score):
            return []
        vocab = self.tokenizer.vocab
        toks = token_spans(states, log_probs, tok, vocab, self.frame_seconds, offset)
        return word_dicts(word_spans(toks, [vocab[t] for t in tok], space_symbol=self.tokenizer.SPACE))
