"""One thread budget for torch and the numba kernels.

torch (its intra-op pool) and numba (its own parallel pool) each default to every core. A training
step alternates between them (the model in torch, the CTC loss in numba), and two pools of
"every core" on the same cores oversubscribe as soon as their work overlaps or another process
needs a core: threads of one pool spin or wait while the other's hold the cores. Setting both from
this one place keeps them at the same count.
"""
from __future__ import annotations

import torch


def set_num_threads(n: int) -> int:
    """Use ``n`` threads in torch and in the numba kernels (numba's at most its pool size,
    ``NUMBA_NUM_THREADS``, fixed at import). Returns the numba count actually set."""
    if n < 1:
        raise ValueError(f"threads: expected a positive thread count, got {n}")
    # numba costs about 50 MB and half a second to import, and every composed config imports the trainer
    # (which imports this module): only a process that sets a thread count pays for it, not `speech transcribe`
    import numba

    k = min(n, numba.config.NUMBA_NUM_THREADS)
    # numba first: the first call starts its OpenMP pool, and with OMP_NUM_THREADS set that start
    # raises torch's OpenMP thread count again (to numba's pool size); torch's setting must come after
    numba.set_num_threads(k)
    torch.set_num_threads(n)
    return k
