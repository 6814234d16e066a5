"""Numba kernels of the writers (NumPy arrays in and out)."""

from __future__ import annotations

import numba
import numpy as np

from dsa110._compat.numba import JIT_OPTIONS

__all__ = ["channel_sum"]


@numba.njit(**JIT_OPTIONS)
def _channel_sum_kernel(weight, out):
    n_row, n_chan, n_corr = weight.shape
    for r in range(n_row):
        for p in range(n_corr):
            out[r, p] = 0.0
        for c in range(n_chan):
            for p in range(n_corr):
                out[r, p] += weight[r, c, p]
    return out


def channel_sum(weight):
    """Channel sums in float64: ``(row, chan, corr)`` → ``(row, corr)``.

    Several times faster than ``numpy.sum(axis=1)``, whose inner loop runs
    over the (two) correlations only.

    Parameters
    ----------
    weight : numpy.ndarray
        ``(row, chan, corr)`` real.

    Returns
    -------
    numpy.ndarray
        ``(row, corr)`` float64.
    """
    weight = np.ascontiguousarray(weight)
    if weight.ndim != 3:
        raise ValueError(f"weight must be (row, chan, corr); got shape {weight.shape}")
    out = np.empty((weight.shape[0], weight.shape[2]), dtype=np.float64)
    return _channel_sum_kernel(weight, out)
