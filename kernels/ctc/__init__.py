"""CTC loss as numba kernels: numpy reference -> CPU kernel -> CUDA kernel -> pure function -> autograd.

Public entry points (``speech.kernels.ctc``):

- :func:`ctc_loss` - drop-in for ``torch.nn.functional.ctc_loss`` (CPU tensors -> CPU kernel,
  CUDA tensors -> CUDA kernel, no host round trip).
- :func:`ctc_loss_from_logits` - the fused path: takes logits, skips log_softmax and its backward.
- :class:`CTCLossNumba` - Module wrapper.
- :func:`ctc_costs_and_grads` - the pure function writing costs and gradients into (optionally
  preallocated) outputs.
- :func:`ctc_reference` - the numpy ground truth.
"""
from speech.kernels.ctc.functional import (
    CTCLossFunction,
    CTCLossNumba,
    ctc_costs_and_grads,
    ctc_loss,
    ctc_loss_from_logits,
)
from speech.kernels.ctc.reference import ctc_reference

__all__ = ["CTCLossFunction", "CTCLossNumba", "ctc_costs_and_grads", "ctc_loss", "ctc_loss_from_logits", "ctc_reference"]
