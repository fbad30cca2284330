"""A vectorizable ``exp`` for numba CPU kernels (float32 and float64).

Numba calls libm's scalar ``exp`` for ``math.exp`` / ``np.exp`` unless Intel's SVML is installed
(it is not a dependency here), so a loop of exponentials runs ~10x slower than the memory it
touches. :func:`fast_exp` is written only with operations LLVM vectorizes (multiply-add, rounding,
an integer shift and a bitcast), so a row loop calling it compiles to AVX2 / AVX-512 code and an
exp pass over a (T, B, C) array runs at the speed of a copy.

Method: ``exp(x) = 2^k * exp(f)`` with ``k = round(x / ln 2)`` and ``f = x - k ln 2`` (ln 2 split in
a high part with few mantissa bits and a low part, so ``k * ln2_hi`` is exact), ``|f| <= ln 2 / 2``;
``exp(f)`` from a polynomial (float32: degree 6, fitted, 2.2e-9 relative; float64: the degree-13
Taylor polynomial, < 1e-17), ``2^k`` built directly as the bits of a float. Relative error about
1 ulp (measured against float64 ``exp`` in ``tests/kernels/test_ctc_cpu.py``).

Range: results below the smallest normal float (x < -87.3 in float32, x < -708.3 in float64,
including -inf) are 0 rather than subnormal; x above 88 (float32) / 709 (float64) gives inf
(the true value is within a factor 2 of overflow there; CTC only takes exp of values <= 0).
NaN stays NaN. The kernels that call it must not use the ``reassoc`` fast-math flag on these
lines' behalf: the functions carry their own flags, which LLVM keeps per instruction when inlining.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# no 'reassoc': x - k*hi - k*lo must not be regrouped into x - k*(hi + lo)
_FLAGS = {"nsz", "arcp", "contract", "afn"}


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret an int32 as a float32 (a bitcast LLVM keeps in vector registers)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret an int64 as a float64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
# float32: ln 2 = hi + lo with hi = 0.693359375 (9 significant bits: k * hi is exact for |k| < 2^15)
_LN2_HI32, _LN2_LO32 = np.float32(0.693359375), np.float32(-2.12194440e-4)
# float64: hi has its low 21 mantissa bits zero (k * hi exact for |k| < 2^21)
_LN2_HI64, _LN2_LO64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10


# float32: exp(f) on |f| <= ln2 / 2 by a degree-6 polynomial with p(0) = 1, fitted for this module
# (least squares on the relative error at Chebyshev nodes, numpy): 2.2e-9 max relative error, so
# float32 rounding (<1e-7 evaluated in float32) is all that is left; exp(0) is exactly 1.
_P32 = (1.0, 1.0000000360921264, 0.4999999535099424, 0.1666642094513208, 0.041667724320925734,
        0.008374763974941359, 0.0013859291077163857)


@njit(inline="always", fastmath=_FLAGS)
def _exp32(x):
    lo, hi = np.float32(-87.33), np.float32(88.0)
    xc = lo if x < lo else x  # compares in this order keep a NaN (both false), so no NaN test is needed
    xc = hi if xc > hi else xc
    k = np.floor(xc * np.float32(_LOG2E) + np.float32(0.5))
    f = xc - k * _LN2_HI32 - k * _LN2_LO32
    p = np.float32(_P32[6])
    p = p * f + np.float32(_P32[5])
    p = p * f + np.float32(_P32[4])
    p = p * f + np.float32(_P32[3])
    p = p * f + np.float32(_P32[2])
    p = p * f + np.float32(_P32[1])
    p = p * f + np.float32(_P32[0])
    r = p * _f32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
    r = np.float32(0.0) if x < lo else r
    return np.float32(np.inf) if x > hi else r


@njit(inline="always", fastmath=_FLAGS)
def _exp64(x):
    lo, hi = -708.3, 709.0
    xc = min(max(x, lo), hi)
    k = np.floor(xc * _LOG2E + 0.5)
    f = xc - k * _LN2_HI64 - k * _LN2_LO64
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * f + 1.0 / 479001600.0
    p = p * f + 1.0 / 39916800.0
    p = p * f + 1.0 / 3628800.0
    p = p * f + 1.0 / 362880.0
    p = p * f + 1.0 / 40320.0
    p = p * f + 1.0 / 5040.0
    p = p * f + 1.0 / 720.0
    p = p * f + 1.0 / 120.0
    p = p * f + 1.0 / 24.0
    p = p * f + 1.0 / 6.0
    p = p * f + 0.5
    p = p * f + 1.0
    p = p * f + 1.0
    r = p * _f64_from_bits((np.int64(k) + np.int64(1023)) << np.int64(52))
    r = 0.0 if x < lo else r
    r = np.inf if x > hi else r
    return x if x != x else r


def fast_exp(x):
    """exp(x) for a float32 or float64 scalar, in the argument's precision (see the module docstring).

    Called from Python it is ``math.exp``; inside numba-compiled code it is the vectorizable version.
    """
    return math.exp(x)


@overload(fast_exp, inline="always")
def _fast_exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _exp32(x)
    if isinstance(x, types.Float):
        return lambda x: _exp64(x)
    return None
