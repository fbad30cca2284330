"""Numba kernels (CPU and CUDA), independent of the rest of the toolkit.

Installed as ``speech.kernels``. Each kernel is layered as: numpy reference -> numba CPU
kernel -> numba CUDA kernel (imported lazily) -> a pure function writing into preallocated
outputs -> a ``torch.autograd.Function`` and a thin Module.
"""
