"""CPU (Numba) kernel for rephasing visibilities: ``V' = V · exp(−2πi Δw f / c)``.

``Δw = w_new − w_old`` is the change of each baseline's w toward the new phase
centre (metres). With the measurement equation of :mod:`dsa110.schema`
(``V = Σ S exp(+2πi b·(d − s)/λ)``), moving the phase centre from ``s`` to
``s'`` multiplies each visibility by ``exp(+2πi b·(s − s')/λ) = exp(−2πi Δw/λ)``.
"""

from __future__ import annotations

import numba
import numpy as np

from dsa110._compat.numba import PARALLEL_JIT_OPTIONS
from dsa110.telescope.beam import SPEED_OF_LIGHT

__all__ = ["rephase_visibilities"]


@numba.njit(**PARALLEL_JIT_OPTIONS)
def _rephase_kernel(vis, delta_w, freq, uniform, out):
    n_time, n_bl, n_chan, n_pol = vis.shape
    scale = -2.0 * np.pi / SPEED_OF_LIGHT
    # Spacing from the end channels: its rounding error is spread over n_chan.
    df = (freq[n_chan - 1] - freq[0]) / (n_chan - 1) if n_chan > 1 else 0.0
    for tb in numba.prange(n_time * n_bl):
        t = tb // n_bl
        b = tb - t * n_bl
        k = scale * delta_w[t, b]
        if uniform:
            # Phasor at the first channel, then a constant step per channel
            # (float64 recurrence: error ~ n_chan × 1e-16).
            ph = k * freq[0]
            cur = complex(np.cos(ph), np.sin(ph))
            step = complex(np.cos(k * df), np.sin(k * df))
            for f in range(n_chan):
                for p in range(n_pol):
                    out[t, b, f, p] = vis[t, b, f, p] * cur
                cur *= step
        else:
            for f in range(n_chan):
                ph = k * freq[f]
                rot = complex(np.cos(ph), np.sin(ph))
                for p in range(n_pol):
                    out[t, b, f, p] = vis[t, b, f, p] * rot
    return out


#: Largest departure of the channels from an even grid, as a fraction of the
#: channel spacing, for which the per-channel phasor recurrence is used. At
#: 1e-8 × 244 kHz = 2.4 mHz the phase error is 2π Δw δf / c ≤ 2e-7 rad for
#: Δw = 3 km, far below float32 visibility precision; exact tests of equality
#: (``rtol=1e-12`` on the spacings) failed on ordinary float64 grids such as
#: ``np.linspace``'s, which sent every chunk down the cos/sin-per-channel path.
_UNIFORM_RTOL = 1e-8


def _is_uniform(freq) -> bool:
    """Whether ``freq`` ``(frequency,)`` float64 is an evenly spaced grid."""
    n = freq.size
    if n < 2:
        return False
    step = freq[1] - freq[0]
    if step == 0.0:
        return False
    grid = freq[0] + step * np.arange(n)
    return bool(np.max(np.abs(freq - grid)) <= _UNIFORM_RTOL * abs(step))


def rephase_visibilities(vis, delta_w, freq, *, out=None):
    """Rotate visibilities to a new phase centre: ``V · exp(−2πi Δw f / c)``.

    The phase is evaluated in float64 whatever the visibility precision (Δw·f/c
    reaches ~10⁴ turns on DSA-110's longest baselines); the output has the
    input's dtype. Dispatches to the GPU kernel when the arrays are CuPy arrays.

    Parameters
    ----------
    vis : numpy.ndarray or cupy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex64 or complex128.
    delta_w : numpy.ndarray or cupy.ndarray
        ``(time, baseline_id)`` float64, ``w_new − w_old`` in metres.
    freq : numpy.ndarray or cupy.ndarray
        ``(frequency,)`` float64, Hz.
    out : array, optional, keyword-only
        Output buffer like ``vis`` (may be ``vis`` itself).

    Returns
    -------
    array
        Rephased visibilities, same type, shape and dtype as ``vis``.
    """
    from dsa110._compat.array_api import get_array_namespace

    xp = get_array_namespace(vis, delta_w, freq)
    if xp is not np:
        from dsa110.phasing import cuda as gpu

        return gpu.rephase_visibilities(vis, delta_w, freq, out=out)
    vis = np.asarray(vis)
    if vis.ndim != 4:
        raise ValueError(
            f"vis must be (time, baseline, frequency, pol); got shape {vis.shape}"
        )
    delta_w = np.ascontiguousarray(delta_w, dtype=np.float64)
    freq = np.ascontiguousarray(freq, dtype=np.float64)
    if delta_w.shape != vis.shape[:2] or freq.shape != vis.shape[2:3]:
        raise ValueError(
            f"delta_w {delta_w.shape} and freq {freq.shape} do not match vis {vis.shape}"
        )
    if out is None:
        out = np.empty_like(vis)
    uniform = _is_uniform(freq)
    return _rephase_kernel(vis, delta_w, freq, uniform, out)
