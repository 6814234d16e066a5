"""GPU (``numba.cuda``) flagging kernels, with the signatures of the CPU ones.

Only the SumThreshold 1-D pass — the inner loop of SumThreshold, run once per
window size and direction — has a GPU kernel so far: one CUDA thread per row
(a channel's time series or an integration's spectrum), with the same sliding
sum, in the same order, as :func:`dsa110.flagging.kernels.sumthreshold_1d`, so
the two give identical flags. Under ``NUMBA_ENABLE_CUDASIM=1`` it runs on
Numba's CUDA simulator, which is how the tests compare it with the CPU kernel.

CuPy is needed only to hand back CuPy arrays for CuPy input; NumPy input is
copied to the device and the result back to the host.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from dsa110._compat.array_api import get_array_namespace
from dsa110._compat.cuda import require_cupy, threads_per_block

__all__ = ["sumthreshold_1d"]


@cuda.jit
def _sumthreshold_1d_kernel(values, flags, window, threshold, out):
    r = cuda.grid(1)
    n_row = values.shape[0]
    n = values.shape[1]
    if r >= n_row:
        return
    for i in range(n):
        out[r, i] = flags[r, i]
    if window < 1 or window > n:
        return
    s = 0.0
    cnt = 0
    for i in range(n):
        x = values[r, i]
        if not flags[r, i] and not (math.isnan(x) or math.isinf(x)):
            s += x
            cnt += 1
        if i >= window:
            y = values[r, i - window]
            if not flags[r, i - window] and not (math.isnan(y) or math.isinf(y)):
                s -= y
                cnt -= 1
        if i >= window - 1 and cnt > 0 and s > threshold * cnt:
            for k in range(i - window + 1, i + 1):
                out[r, k] = True


def sumthreshold_1d(values, flags, *, window, threshold):
    """One SumThreshold pass along the last axis, for one window size, on the GPU.

    Parameters
    ----------
    values : numpy.ndarray or cupy.ndarray
        ``(row, sample)`` float32/float64: residual amplitudes.
    flags : numpy.ndarray or cupy.ndarray
        ``(row, sample)`` bool: samples excluded from the sums.
    window : int, keyword-only
        Run length ``M`` (≥ 1).
    threshold : float, keyword-only
        ``χ_M``, same unit as ``values``.

    Returns
    -------
    numpy.ndarray or cupy.ndarray
        ``(row, sample)`` bool, of the input's array type: ``flags`` or'ed with
        the newly flagged runs. Equal to
        :func:`dsa110.flagging.kernels.sumthreshold_1d`.

    Raises
    ------
    ValueError
        When the shapes differ or are not 2-D.
    """
    if values.ndim != 2 or flags.shape != values.shape:
        raise ValueError(
            "values and flags must be (row, sample), "
            f"got {values.shape} and {flags.shape}"
        )
    xp = get_array_namespace(values, flags)
    n_row = values.shape[0]
    tpb = threads_per_block(n_row)
    blocks = max(1, (n_row + tpb - 1) // tpb)
    if xp is np:
        d_values = cuda.to_device(np.ascontiguousarray(values))
        d_flags = cuda.to_device(np.ascontiguousarray(flags, dtype=np.bool_))
        d_out = cuda.device_array(values.shape, dtype=np.bool_)
        _sumthreshold_1d_kernel[blocks, tpb](
            d_values, d_flags, int(window), float(threshold), d_out
        )
        return d_out.copy_to_host()
    cupy = require_cupy("the GPU SumThreshold kernel")
    values = cupy.ascontiguousarray(values)
    flags = cupy.ascontiguousarray(flags, dtype=cupy.bool_)
    out = cupy.empty(values.shape, dtype=cupy.bool_)
    _sumthreshold_1d_kernel[blocks, tpb](
        values, flags, int(window), float(threshold), out
    )
    return out
