"""Bidirectional multiplicative-integration LSTM layer (MI-LSTM; Wu et al., 2016, "On
Multiplicative Integration with Recurrent Neural Networks").

Each gate's pre-activation replaces the sum ``W x + U h + b`` of a standard LSTM with

    alpha * (W x) * (U h) + beta1 * (U h) + beta2 * (W x) + b        (elementwise products)

where alpha, beta1, beta2 and b are learned vectors with one entry per gate unit. The gates
i, f, g, o (in torch's order), the cell update ``c' = f * c + i * g`` and ``h' = o * tanh(c')`` are
those of a standard LSTM. With alpha = 0 and beta1 = beta2 = 1 the layer *is* a standard LSTM.

Initialisation: alpha = 1, beta1 = beta2 = 1 (the full multiplicative term from the first step
alongside the additive one; the choice is ours, not a value taken from the paper). W, U, b and the
projection are uniform in +-1/sqrt(hidden_size), as in ``torch.nn.LSTM``.

Projection (LSTMP) is supported: with ``proj_size > 0`` the output of each step is
``h' = W_hr (o * tanh(c'))`` of size P, and U maps from P (as ``torch.nn.LSTM(proj_size=P)``).

Speed: the input projection ``W x`` of all frames and both directions is one matrix product
(B*T x F @ F x 8H); only ``U h`` and the elementwise gate math run in a Python loop over time, and
the two directions share that loop (one batched matmul per step). Plain PyTorch, no TorchScript.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def reverse_within_lengths(x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of x (B, T, D) within its own length x_lens (B,); frames past the
    length stay where they are. The mapping is its own inverse."""
    b, t, d = x.shape
    pos = torch.arange(t, device=x.device).unsqueeze(0).expand(b, t)
    lens = x_lens.to(x.device).unsqueeze(1)
    idx = torch.where(pos < lens, lens - 1 - pos, pos)
    return x.gather(1, idx.unsqueeze(-1).expand(b, t, d))


class BiMILSTM(nn.Module):
    """One bidirectional MI-LSTM layer: forward(x (B, T, F), x_lens (B,)) -> y (B, T, 2 * out),
    out = proj_size or hidden_size; y holds [forward, backward] outputs and is 0 past each length.

    Parameters (direction d = 0 forward, 1 backward; gate rows in the order i, f, g, o):
      weight_ih (2*4H, F)   both directions' input weights W, stacked for one matrix product
      weight_hh (2, 4H, R)  recurrent weights U, R = proj_size or hidden_size
      bias, alpha, beta1, beta2 (2, 4H)
      weight_hr (2, P, H)   projection, only when proj_size > 0
    """

    def __init__(self, input_size: int, hidden_size: int, proj_size: int = 0):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"BiMILSTM: input_size and hidden_size must be >= 1, got {input_size}, {hidden_size}")
        if proj_size < 0 or proj_size >= hidden_size and proj_size:
            raise ValueError(f"BiMILSTM: proj_size must be 0 (off) or in [1, hidden_size), got {proj_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.proj_size = proj_size
        self.output_size = proj_size or hidden_size
        g = 4 * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2, g, self.output_size))
        self.bias = nn.Parameter(torch.empty(2, g))
        self.alpha = nn.Parameter(torch.empty(2, g))
        self.beta1 = nn.Parameter(torch.empty(2, g))
        self.beta2 = nn.Parameter(torch.empty(2, g))
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(2, proj_size, hidden_size))
        else:
            self.register_parameter("weight_hr", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for w in (self.weight_ih, self.weight_hh, self.bias, self.weight_hr):
            if w is not None:
                nn.init.uniform_(w, -k, k)
        nn.init.ones_(self.alpha)
        nn.init.ones_(self.beta1)
        nn.init.ones_(self.beta2)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, bidirectional=True"
        return s + (f", proj_size={self.proj_size}" if self.proj_size else "")

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> torch.Tensor:
        """x: (B, T, F) padded input, x_lens: (B,) valid frames -> y: (B, T, 2 * out), 0 past x_lens."""
        b, t, f = x.shape
        h_size, g = self.hidden_size, 4 * self.hidden_size
        if f != self.input_size:
            raise ValueError(f"BiMILSTM: expected {self.input_size} input features, got x of shape {tuple(x.shape)}")
        y = x.new_zeros(b, t, 2 * self.output_size)
        steps = int(x_lens.max()) if b and t else 0
        if steps == 0:
            return y
        x = x[:, :steps]
        # W x for every frame and both directions in one product: (B*T', F) @ (F, 8H).
        wx = (x.reshape(b * steps, f) @ self.weight_ih.t()).view(b, steps, 2, g)
        # The backward direction runs forward over each utterance reversed within its length, so
        # its recurrence starts at the utterance's own last valid frame.
        wx_bwd = reverse_within_lengths(wx[:, :, 1], x_lens)
        wx = torch.stack((wx[:, :, 0], wx_bwd), dim=0).transpose(1, 2)  # (2, T', B, 4H)
        # alpha*Wx*Uh + beta1*Uh + beta2*Wx + b == (alpha*Wx + beta1) * Uh + (beta2*Wx + b):
        # both brackets are computed for all frames here; each step is then one addcmul.
        scale = torch.addcmul(self.beta1[:, None, None], self.alpha[:, None, None], wx)
        shift = torch.addcmul(self.bias[:, None, None], self.beta2[:, None, None], wx)
        u_t = self.weight_hh.transpose(1, 2)  # (2, R, 4H)
        w_hr_t = self.weight_hr.transpose(1, 2) if self.weight_hr is not None else None  # (2, H, P)
        h = x.new_zeros(2, b, self.output_size)
        c = x.new_zeros(2, b, h_size)
        outs = []
        for step in range(steps):
            gates = torch.addcmul(shift[:, step], scale[:, step], torch.bmm(h, u_t))  # (2, B, 4H)
            i = torch.sigmoid(gates[..., :h_size])
            fg = torch.sigmoid(gates[..., h_size : 2 * h_size])
            cand = torch.tanh(gates[..., 2 * h_size : 3 * h_size])
            o = torch.sigmoid(gates[..., 3 * h_size :])
            c = torch.addcmul(fg * c, i, cand)
            h = o * torch.tanh(c)
            if w_hr_t is not None:
                h = torch.bmm(h, w_hr_t)
            outs.append(h)
        out = torch.stack(outs, dim=2)  # (2, B, T', out)
        fwd, bwd = out[0], reverse_within_lengths(out[1], x_lens)
        valid = (torch.arange(steps, device=x.device)[None, :] < x_lens.to(x.device)[:, None]).unsqueeze(-1)
        y[:, :steps] = torch.where(valid, torch.cat((fwd, bwd), dim=-1), 0.0)
        return y
