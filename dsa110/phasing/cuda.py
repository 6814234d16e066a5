"""GPU (``numba.cuda``) kernel for rephasing; same signature as the CPU kernel.

One thread per (time, baseline, channel); the phase is computed in float64.
Used when the chunks are CuPy arrays; checked against the CPU kernel under
Numba's CUDA simulator.
"""

from __future__ import annotations

import math

from numba import cuda

from dsa110._compat.cuda import require_cupy, threads_per_block
from dsa110.telescope.beam import SPEED_OF_LIGHT

__all__ = ["rephase_visibilities"]

_SCALE = -2.0 * math.pi / SPEED_OF_LIGHT


@cuda.jit
def _rephase_cuda(vis, delta_w, freq, out):
    i = cuda.grid(1)
    n_time, n_bl, n_chan, n_pol = vis.shape
    if i >= n_time * n_bl * n_chan:
        return
    f = i % n_chan
    tb = i // n_chan
    b = tb % n_bl
    t = tb // n_bl
    ph = _SCALE * delta_w[t, b] * freq[f]
    rot = complex(math.cos(ph), math.sin(ph))
    for p in range(n_pol):
        out[t, b, f, p] = vis[t, b, f, p] * rot


def rephase_visibilities(vis, delta_w, freq, *, out=None):
    """Rotate visibilities to a new phase centre on the GPU.

    Parameters
    ----------
    vis : cupy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex64 or complex128.
    delta_w : cupy.ndarray
        ``(time, baseline_id)`` float64, ``w_new − w_old`` in metres.
    freq : cupy.ndarray
        ``(frequency,)`` float64, Hz.
    out : cupy.ndarray, optional, keyword-only
        Output buffer like ``vis``.

    Returns
    -------
    cupy.ndarray
        ``vis · exp(−2πi Δw f / c)``, same dtype as ``vis``.
    """
    if out is None:
        out = _empty_like(vis)
    n = vis.shape[0] * vis.shape[1] * vis.shape[2]
    tpb = threads_per_block(n)
    blocks = max(1, (n + tpb - 1) // tpb)
    _rephase_cuda[blocks, tpb](vis, delta_w, freq, out)
    return out


def _empty_like(vis):
    """An output buffer on the same device as ``vis``.

    CuPy input gets a CuPy buffer; NumPy input (the CUDA simulator, or a host
    array that numba.cuda copies to the device) gets a NumPy buffer.
    """
    from dsa110._compat.array_api import is_cupy_array

    if is_cupy_array(vis):
        return require_cupy("GPU rephasing").empty_like(vis)
    import numpy as np

    return np.empty_like(vis)
