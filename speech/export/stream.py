"""The streaming graph of a unidirectional recognizer (``stream.onnx``), for ``--stream --runtime onnx``.

:func:`export_stream_graph` traces :class:`speech.models.asr.bilstm.StreamingStep` (CMVN, the LSTM
layers with their states in and out, the output layer, log-softmax) and returns the meta.json
entries the runtime (:class:`speech.runtime.stream.OnnxStreamRecognizer`) reads::

    graphs.stream = "stream.onnx"
    stream = {"stack_frames", "num_layers", "hidden_size", "output_size", "input_dim"}

Graph inputs ``x`` and ``keep`` (1, T, stack_frames * n_mels), ``h`` (num_layers, 1, output_size),
``c`` (num_layers, 1, hidden_size); outputs ``log_probs`` (1, T, V), ``h_out``, ``c_out``.
Frame stacking and the feature streamer stay in numpy (speech.runtime.stream).
"""
from __future__ import annotations

from pathlib import Path

import torch

from speech.export.common import export_graph
from speech.models.asr.bilstm import BiLSTMCTC, StreamingStep

STREAM_GRAPH = "stream.onnx"


def is_streamable(model: torch.nn.Module) -> bool:
    """True for a unidirectional BiLSTM-CTC (the models :func:`export_stream_graph` takes)."""
    return isinstance(model, BiLSTMCTC) and not model.cfg.bidirectional


def export_stream_graph(model: torch.nn.Module, out_dir: Path, opset: int) -> dict:
    """Write ``out_dir/stream.onnx`` for a unidirectional BiLSTM-CTC and return its meta.json entries.

    Raises:
        ValueError: the model is not a unidirectional BiLSTM-CTC, or uses LSTM projections (which
            torch's ONNX exporter cannot write).
    """
    if not is_streamable(model):
        raise ValueError("export_stream_graph: expected a unidirectional BiLSTM-CTC (model.asr.bidirectional=false)")
    if model.cfg.projection_size:
        raise ValueError("model.asr.projection_size: the ONNX exporter cannot write LSTM projections; a streaming "
                         "export needs projection_size=0")
    step = StreamingStep(model).cpu().eval()
    h, c = step.initial_state()
    x = torch.zeros(1, 3, step.input_dim)
    export_graph(step, (x, torch.ones_like(x), h, c), Path(out_dir) / STREAM_GRAPH,
                 input_names=["x", "keep", "h", "c"], output_names=["log_probs", "h_out", "c_out"],
                 dynamic_axes={"x": {1: "T"}, "keep": {1: "T"}, "log_probs": {1: "T"}}, opset=opset)
    return {"graphs": {"stream": STREAM_GRAPH},
            "stream": {"stack_frames": model.cfg.stack_frames, "num_layers": step.num_layers,
                       "hidden_size": step.hidden_size, "output_size": step.output_size,
                       "input_dim": step.input_dim}}
