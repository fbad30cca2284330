"""Viterbi forced alignment over the CTC topology: numpy reference -> CPU kernel -> CUDA kernel ->
pure function on torch tensors.

Public entry points (``speech.kernels.align``):

- :func:`viterbi_align` - best path (emitted symbol per frame, (B, T)) and its score (B,).
- :func:`align_states` - the same path as extended-state indices (tells repeated labels apart).
- :func:`align` - the pure function returning (states, paths, scores).
- :func:`viterbi_reference` / :func:`align_reference` - the numpy ground truth.
"""
from speech.kernels.align.functional import align, align_states, viterbi_align
from speech.kernels.align.reference import align_reference, viterbi_reference

__all__ = ["align", "align_reference", "align_states", "viterbi_align", "viterbi_reference"]
