"""Stokes I visibilities and weights from XX and YY, one chunk at a time.

``I = (w_XX V_XX + w_YY V_YY) / (w_XX + w_YY)`` over the unflagged products, with
weight ``w_XX + w_YY`` (the inverse-variance combination for an unpolarised sky).
A product's weight is zero where it is flagged, where its visibility is not
finite, where the weight itself is not positive (or NaN), and on
autocorrelations. The Numba kernel does this in one pass over a chunk; written as
array expressions the same arithmetic makes a dozen whole-chunk temporaries.
CuPy chunks use the expressions (:func:`stokes_i_arrays`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsa110._compat.array_api import get_array_namespace
from dsa110._compat.numba import JIT_OPTIONS

__all__ = ["stokes_i_block", "stokes_i_arrays"]


@njit(**JIT_OPTIONS)
def _stokes_i_kernel(vis, flag, weight, cross, ix, iy, vis_out, wgt_out):
    nt, nb, nf = wgt_out.shape
    for t in range(nt):
        for b in range(nb):
            if not cross[b]:
                for f in range(nf):
                    wgt_out[t, b, f] = 0
                    vis_out[t, b, f] = 0
                continue
            for f in range(nf):
                vx = vis[t, b, f, ix]
                vy = vis[t, b, f, iy]
                wx = np.float64(weight[t, b, f, ix])
                wy = np.float64(weight[t, b, f, iy])
                # `not w > 0` also catches NaN weights
                if (
                    flag[t, b, f, ix]
                    or not (np.isfinite(vx.real) and np.isfinite(vx.imag))
                    or not wx > 0
                ):
                    wx = 0.0
                if (
                    flag[t, b, f, iy]
                    or not (np.isfinite(vy.real) and np.isfinite(vy.imag))
                    or not wy > 0
                ):
                    wy = 0.0
                # the weight as stored (float32) also divides
                ws = np.float64(np.float32(wx + wy))
                wgt_out[t, b, f] = ws
                re = 0.0
                im = 0.0
                if wx > 0:
                    re += wx * vx.real
                    im += wx * vx.imag
                if wy > 0:
                    re += wy * vy.real
                    im += wy * vy.imag
                if ws > 0:
                    re /= ws
                    im /= ws
                vis_out[t, b, f] = complex(re, im)


def stokes_i_arrays(vis, flag, weight, cross, ix, iy):
    """Stokes I of one chunk as array expressions (any array namespace).

    Parameters
    ----------
    vis : array
        ``(time, baseline, frequency, polarization)`` complex.
    flag : array
        Same shape, bool.
    weight : array
        Same shape, real.
    cross : array
        ``(baseline,)`` bool: not an autocorrelation.
    ix, iy : int
        Indices of XX and YY along the polarization axis.

    Returns
    -------
    vis, weight : array
        ``(time, baseline, frequency)`` complex (``vis``'s dtype) and float32.
    """
    xp = get_array_namespace(vis, flag, weight)
    w = xp.where(flag | ~xp.isfinite(vis), 0, weight).astype(xp.float32)
    w = xp.where(w > 0, w, 0)
    w = w * xp.asarray(cross, dtype=xp.float32)[None, :, None, None]
    wx, wy = w[..., ix], w[..., iy]
    vx = xp.where(wx > 0, vis[..., ix], 0)
    vy = xp.where(wy > 0, vis[..., iy], 0)
    wsum = wx + wy
    vi = (wx * vx + wy * vy) / xp.where(wsum > 0, wsum, 1)
    return vi.astype(vis.dtype), wsum


def stokes_i_block(vis, flag, weight, cross, *, ix, iy):
    """Stokes I visibilities and weights of one chunk, in one pass.

    Parameters
    ----------
    vis, flag, weight, cross, ix, iy
        As for :func:`stokes_i_arrays`.

    Returns
    -------
    vis, weight : array
        ``(time, baseline, frequency)`` complex (``vis``'s dtype) and float32.
    """
    xp = get_array_namespace(vis, flag, weight)
    if xp is not np:
        return stokes_i_arrays(vis, flag, weight, cross, ix, iy)
    shape = vis.shape[:3]
    wgt_out = np.empty(shape, np.float32)
    vis_out = np.empty(shape, vis.dtype)
    _stokes_i_kernel(
        vis,
        flag,
        np.asarray(weight, np.float32),
        np.asarray(cross, np.bool_),
        int(ix),
        int(iy),
        vis_out,
        wgt_out,
    )
    return vis_out, wgt_out
