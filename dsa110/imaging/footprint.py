"""Kernel-polynomial helpers of the single-plane reference loops in ``kernels.py``.

The CPU gridder itself runs the tile-buffered loops of :mod:`dsa110.imaging.tiles`;
the single-plane loops ``_grid_plane``/``_degrid_plane`` are the reference of the
per-plane CUDA kernels' tests.
"""

from __future__ import annotations

from numba import njit

from dsa110._compat.numba import JIT_OPTIONS

__all__: list[str] = []


@njit(**JIT_OPTIONS)
def _horner(coeffs, x, out):
    # one scalar accumulator per tap (kept in a register; updating out[a] in the
    # inner loop makes LLVM store and reload it at every degree)
    for a in range(coeffs.shape[1]):
        acc = coeffs[0, a]
        for d in range(1, coeffs.shape[0]):
            acc = acc * x + coeffs[d, a]
        out[a] = acc


@njit(**JIT_OPTIONS)
def _wrap(i, n):
    # i mod n for −n ≤ i < 2n (cheaper than a general signed modulo)
    if i < 0:
        return i + n
    if i >= n:
        return i - n
    return i


@njit(**JIT_OPTIONS)
def _horner_one(coeffs, x, a):
    acc = coeffs[0, a]
    for d in range(1, coeffs.shape[0]):
        acc = acc * x + coeffs[d, a]
    return acc
