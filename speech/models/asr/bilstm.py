"""Bidirectional-LSTM acoustic model with a CTC output layer.

Data flow (shapes): log-mel features (B, T, F) -> global CMVN -> SpecAugment (training only)
-> frame stacking (T -> T / s) -> N bidirectional LSTM layers on packed sequences, optionally
with a projection (LSTMP) and pyramidal subsampling between layers -> dropout -> linear ->
log-softmax over the vocabulary (B, T', V), blank = index 0.

``bidirectional=False`` makes every layer a forward-only LSTM: each output frame then depends on
the past alone, so the model can run on audio as it arrives (speech.pipelines.streaming,
speech.runtime.stream) with the LSTM states carried from one chunk to the next.

``cell="mi_lstm"`` swaps every layer for a bidirectional multiplicative-integration LSTM
(:class:`speech.models.asr.mi_lstm.BiMILSTM`), plain PyTorch with a Python loop over time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speech.features import GlobalCMVN, SpecAugment, SpecAugmentConfig
from speech.models.asr.mi_lstm import BiMILSTM
from speech.models.layers import FrameStacking, maybe_recompute


@dataclass
class BiLSTMConfig:
    """Hyper-parameters of :class:`BiLSTMEncoder` / :class:`BiLSTMCTC`."""

    hidden_size: int = 320
    """LSTM cells per direction."""
    num_layers: int = 4
    """Number of stacked LSTM layers."""
    projection_size: int = 0
    """If > 0, each layer projects its hidden state to this size (LSTMP); output is 2 * projection_size
    (projection_size when unidirectional)."""
    bidirectional: bool = True
    """True: each layer reads the utterance both ways (the default; best offline accuracy). False: forward
    LSTMs only (output hidden_size or projection_size per layer), so every frame depends on past audio
    alone and the model can transcribe a stream (``speech transcribe --stream``). A streaming model
    needs cell="lstm" and utterance_cmn=false (both need the whole utterance or a backward pass)."""
    dropout: float = 0.1
    """Dropout between layers and before the output layer."""
    stack_frames: int = 1
    """Stack this many input frames into one before the first layer (frame-rate reduction)."""
    subsample: list[int] = field(default_factory=list)
    """Per-layer time reduction after layer i (pyramidal BiLSTM); empty or length num_layers, entries >= 1."""
    cell: str = "lstm"
    """Recurrent cell: "lstm" = torch's fused nn.LSTM on packed sequences (default; the state_dict
    keys of trained packages); "mi_lstm" = multiplicative-integration LSTM (Wu et al. 2016), see
    speech.models.asr.mi_lstm; slower (Python loop over time), supports projection_size too."""

    utterance_cmn: bool = False
    """Subtract each utterance's mean feature vector (over its own frames) after global CMVN. A fixed
    microphone / channel response adds a constant to every log-mel frame, so this removes it; it
    helps with unseen speakers and recording set-ups (FSDD leave-one-speaker-out)."""
    recompute: bool = False
    """Activation checkpointing per layer while training: each layer (its input dropout and LSTM) keeps
    only its input, and the backward pass runs its forward again instead of reading stored gates. Saves
    most of the activation memory for about a third more step time (bench/recompute.py); gradients are
    the same. Evaluation and inference are unchanged, and so are the weights' names."""
    recompute_layers: int = 0
    """With ``recompute``: how many layers, from the first, are recomputed (0: all). Each layer saves and
    costs alike, so k of L layers keep about k / L of the saving for k / L of the extra time: a memory /
    time trade between storing everything and recomputing everything."""

    CELLS = ("lstm", "mi_lstm")

    def __post_init__(self) -> None:
        """Range checks; messages name the config key (``model.asr.<field>``) and what is expected."""
        for name in ("hidden_size", "num_layers", "stack_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.asr.{name}: {getattr(self, name)} is out of range; expected >= 1")
        if self.projection_size < 0 or self.projection_size >= self.hidden_size and self.projection_size:
            raise ValueError(f"model.asr.projection_size: {self.projection_size} is out of range; expected 0 (off) "
                             f"or in [1, hidden_size={self.hidden_size})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.asr.dropout: {self.dropout} is out of range; expected a fraction in [0, 1)")
        if self.cell not in self.CELLS:
            raise ValueError(f"model.asr.cell: {self.cell!r} is not a cell; expected one of {', '.join(self.CELLS)}")
        if not self.bidirectional and self.utterance_cmn:
            raise ValueError("model.asr.utterance_cmn=true needs the whole utterance, so it cannot be combined "
                             "with model.asr.bidirectional=false (a streaming model); set one of them differently")
        if not self.bidirectional and any(int(f) != 1 for f in (self.subsample or [])):
            raise ValueError(f"model.asr.subsample: {self.subsample} with model.asr.bidirectional=false; a streaming "
                             "model expects [] (reduce the frame rate with model.asr.stack_frames)")
        if not self.bidirectional and self.cell != "lstm":
            raise ValueError(f"model.asr.cell: {self.cell!r} is bidirectional only; model.asr.bidirectional=false "
                             "expects cell=lstm")
        if not 0 <= self.recompute_layers <= self.num_layers:
            raise ValueError(f"model.asr.recompute_layers: {self.recompute_layers} is out of range; expected 0 (all) "
                             f"to num_layers={self.num_layers}")
        self.subsample = list(self.subsample) if self.subsample else [1] * self.num_layers
        if len(self.subsample) != self.num_layers or any(int(s) < 1 for s in self.subsample):
            raise ValueError(f"model.asr.subsample: {self.subsample} does not fit num_layers={self.num_layers}; "
                             "expected [] or one factor >= 1 per layer")

    @property
    def time_reduction(self) -> int:
        """Total factor by which the output frame rate is lower than the feature frame rate."""
        r = self.stack_frames
        for s in self.subsample:
            r *= int(s)
        return r


class BiLSTMEncoder(nn.Module):
    """Stacked (bi- or unidirectional) LSTMs on packed sequences: forward(x, x_lens) -> (y, y_lens).

    Each layer is its own ``nn.LSTM`` so that dropout and pyramidal subsampling can sit
    between layers; each call still runs torch's fused (cuDNN / MKL-DNN) LSTM kernel.
    With ``cfg.cell == "mi_lstm"`` each layer is a :class:`BiMILSTM` (same shapes) instead.
    """

    def __init__(self, input_dim: int, cfg: BiLSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.stack = FrameStacking(cfg.stack_frames)
        self.layers = nn.ModuleList()
        self.pools = nn.ModuleList()
        dim = input_dim * cfg.stack_frames
        out = cfg.projection_size or cfg.hidden_size
        for factor in cfg.subsample:
            if cfg.cell == "mi_lstm":
                layer: nn.Module = BiMILSTM(dim, cfg.hidden_size, proj_size=cfg.projection_size)
            else:
                layer = nn.LSTM(
                    dim, cfg.hidden_size, batch_first=True, bidirectional=cfg.bidirectional,
                    proj_size=cfg.projection_size,
                )
            self.layers.append(layer)
            self.pools.append(FrameStacking(int(factor)))
            dim = (2 if cfg.bidirectional else 1) * out * int(factor)
        self.output_dim = dim
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, F) padded features, x_lens: (B,) -> ((B, T', D), (B,)), T' = T / time_reduction."""
        x, x_lens = self.stack(x, x_lens)
        recompute = self.cfg.recompute and self.training
        for i, pool in enumerate(self.pools):
            x = maybe_recompute(self._layer, i, x, x_lens,
                                enabled=recompute and (not self.cfg.recompute_layers or i < self.cfg.recompute_layers))
            x, x_lens = pool(x, x_lens)
        return x, x_lens

    def _layer(self, i: int, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        """Layer i on (B, T, D) padded input -> (B, T, D'): dropout (after the first layer), then the LSTM.

        One function, so that recomputation (``cfg.recompute``) replays the dropout with the same mask."""
        lstm = self.layers[i]
        if i > 0:
            x = self.dropout(x)
        if isinstance(lstm, BiMILSTM):
            return lstm(x, x_lens)
        total = x.shape[1]
        packed = pack_padded_sequence(x, x_lens.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = lstm(packed)
        return pad_packed_sequence(y, batch_first=True, total_length=total)[0]


def utterance_mean_norm(x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """(B, T, F) features minus each row's mean over its first ``lens[b]`` frames; padding stays 0."""
    mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lens.to(x.device)[:, None]).unsqueeze(-1)
    mask = mask.to(x.dtype)
    mean = (x * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1)
    return (x - mean) * mask


class BiLSTMCTC(nn.Module):
    """Complete CTC acoustic model: CMVN -> SpecAugment -> BiLSTM encoder -> log-probs.

    The CMVN statistics are buffers, so a saved ``state_dict`` carries them with the weights.
    """

    def __init__(self, input_dim: int, vocab_size: int, cfg: BiLSTMConfig, specaugment: SpecAugmentConfig | None = None):
        super().__init__()
        self.input_dim = input_dim
        self.vocab_size = vocab_size
        self.cfg = cfg
        self.cmvn = GlobalCMVN(input_dim)
        self.specaugment = SpecAugment(specaugment) if specaugment is not None else None
        self.encoder = BiLSTMEncoder(input_dim, cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(self.encoder.output_dim, vocab_size)

    @property
    def time_reduction(self) -> int:
        return self.cfg.time_reduction

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats: (B, T, F) raw log-mel, feat_lens: (B,) -> (log_probs (B, T', V), out_lens (B,))."""
        x = self.cmvn(feats, feat_lens)
        if self.cfg.utterance_cmn:
            x = utterance_mean_norm(x, feat_lens)
        if self.specaugment is not None and self.training:
            x = self.specaugment(x, feat_lens)
        x, lens = self.encoder(x, feat_lens)
        logits = self.output(self.dropout(x))
        return torch.log_softmax(logits.float(), dim=-1), lens


class StreamingStep(nn.Module):
    """One chunk of a unidirectional :class:`BiLSTMCTC`, its LSTM states in and out (the streaming graph).

    forward(x, keep, h, c) -> (log_probs, h, c) with
    x: (1, T, stack_frames * F) raw log-mel frames in groups of ``stack_frames`` (frame stacking is the
    caller's: speech.runtime.stream.FrameStacker); keep: same shape, 1 on real frames and 0 on the padding
    of a stream's last group (zero after CMVN, as offline stacking pads); h: (num_layers, 1, out_size),
    c: (num_layers, 1, hidden_size) states after the previous chunk (zeros to start);
    log_probs: (1, T, V). Chunk after chunk, the log-probs equal the offline model's for the whole input.
    """

    def __init__(self, model: BiLSTMCTC):
        super().__init__()
        cfg = model.cfg
        if cfg.bidirectional:
            raise ValueError("StreamingStep: the model is bidirectional; streaming needs model.asr.bidirectional=false")
        s = cfg.stack_frames
        self.register_buffer("mean", model.cmvn.mean.detach().repeat(s).clone(), persistent=False)
        self.register_buffer("std", model.cmvn.std.detach().repeat(s).clone(), persistent=False)
        self.layers = model.encoder.layers
        self.output = model.output
        self.num_layers = cfg.num_layers
        self.hidden_size = cfg.hidden_size
        self.output_size = cfg.projection_size or cfg.hidden_size
        self.input_dim = model.input_dim * s

    def initial_state(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Zero states (h, c) for the start of a stream."""
        return (torch.zeros(self.num_layers, 1, self.output_size, device=device),
                torch.zeros(self.num_layers, 1, self.hidden_size, device=device))

    def forward(self, x: torch.Tensor, keep: torch.Tensor, h: torch.Tensor,
                c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = (x - self.mean) / self.std * keep
        hs, cs = [], []
        for i, lstm in enumerate(self.layers):
            y, (hi, ci) = lstm(y, (h[i:i + 1], c[i:i + 1]))
            hs.append(hi)
            cs.append(ci)
        logits = self.output(y)
        return torch.log_softmax(logits.float(), dim=-1), torch.cat(hs, 0), torch.cat(cs, 0)


def bilstm_ctc(
    input_dim: int,
    vocab_size: int,
    specaugment: SpecAugmentConfig | None = None,
    **kwargs,
) -> BiLSTMCTC:
    """Factory used by the Hydra config ``model/asr/bilstm``: keyword arguments are
    :class:`BiLSTMConfig` fields; an unknown field raises a TypeError naming it."""
    try:
        cfg = BiLSTMConfig(**kwargs)
    except TypeError as e:
        raise TypeError(f"model.asr: {e}; valid fields: {', '.join(BiLSTMConfig.__dataclass_fields__)}") from None
    return BiLSTMCTC(input_dim, vocab_size, cfg, specaugment)


bilstm_ctc.config_class = BiLSTMConfig  # the dataclass its keyword arguments are fields of


