"""``numba.cuda`` kernels of calibration, with the signatures of :mod:`.kernels`.

:func:`predict_vis` takes CuPy arrays (returning CuPy) or NumPy arrays (copied to
the device and back; this is how the tests run it under Numba's CUDA simulator).
One thread computes one (time, baseline) row over all channels and sources.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from dsa110._compat.array_api import is_cupy_array
from dsa110._compat.cuda import require_cupy, threads_per_block

__all__ = ["predict_vis"]

_SPEED_OF_LIGHT = 299_792_458.0


@cuda.jit
def _predict_kernel(
    uvw,
    frequency,
    lmn,
    flux,
    spectral_index,
    ref_freq,
    shape,
    beam,
    has_shape,
    has_beam,
    out_re,
    out_im,
):
    row = cuda.grid(1)
    n_time = uvw.shape[0]
    n_bl = uvw.shape[1]
    if row >= n_time * n_bl:
        return
    t = row // n_bl
    b = row % n_bl
    u = uvw[t, b, 0]
    v = uvw[t, b, 1]
    w = uvw[t, b, 2]
    fwhm_to_sigma = 1.0 / math.sqrt(8.0 * math.log(2.0))
    for s in range(flux.shape[0]):
        delay = u * lmn[t, s, 0] + v * lmn[t, s, 1] + w * (lmn[t, s, 2] - 1.0)
        for c in range(frequency.shape[0]):
            f = frequency[c]
            sflux = flux[s] * (f / ref_freq) ** spectral_index[s]
            if has_beam:
                sflux *= beam[t, s, c]
            if has_shape:
                inv_lam = f / _SPEED_OF_LIGHT
                ul = u * inv_lam
                vl = v * inv_lam
                sp = math.sin(shape[s, 2])
                cp = math.cos(shape[s, 2])
                umaj = ul * sp + vl * cp
                umin = ul * cp - vl * sp
                smaj = shape[s, 0] * fwhm_to_sigma
                smin = shape[s, 1] * fwhm_to_sigma
                sflux *= math.exp(
                    -2.0
                    * math.pi
                    * math.pi
                    * (smaj * smaj * umaj * umaj + smin * smin * umin * umin)
                )
            phase = 2.0 * math.pi * delay * f / _SPEED_OF_LIGHT
            out_re[t, b, c] += sflux * math.cos(phase)
            out_im[t, b, c] += sflux * math.sin(phase)


def predict_vis(
    uvw,
    frequency,
    lmn,
    flux,
    *,
    spectral_index=None,
    ref_freq: float = 1.4e9,
    shape=None,
    beam=None,
    out=None,
):
    """Visibilities of point and Gaussian sources by a direct Fourier transform (GPU).

    ``V(t, b, c) = Σ_s S_s (f/f0)^α_s · A(t, s, c) · G_s(u, v) ·
    exp(+2πi f (u l + v m + w (n − 1)) / c)``.

    Parameters
    ----------
    uvw : cupy.ndarray or numpy.ndarray
        ``(time, baseline_id, uvw_label)`` float32/float64 metres.
    frequency : cupy.ndarray or numpy.ndarray
        ``(frequency,)`` float64 Hz.
    lmn : cupy.ndarray or numpy.ndarray
        ``(time, source, 3)`` float64 direction cosines relative to each time's
        phase centre.
    flux : cupy.ndarray or numpy.ndarray
        ``(source,)`` float64 flux densities at ``ref_freq``, Jy.
    spectral_index : array, optional, keyword-only
        ``(source,)`` float64; zero by default.
    ref_freq : float, keyword-only
        Reference frequency of ``flux``, Hz.
    shape : array, optional, keyword-only
        ``(source, 3)`` float64 Gaussian FWHM major, minor, position angle, rad.
    beam : array, optional, keyword-only
        ``(time, source, frequency)`` float64 primary-beam attenuation.
    out : array, optional, keyword-only
        ``(time, baseline_id, frequency)`` complex buffer, accumulated into.

    Returns
    -------
    cupy.ndarray or numpy.ndarray
        ``(time, baseline_id, frequency)`` complex128 for float64 ``uvw``,
        complex64 for float32 ``uvw``; CuPy when the inputs are CuPy.

    Raises
    ------
    ImportError
        When CuPy arrays are given and CuPy is not installed.
    """
    on_gpu = is_cupy_array(uvw)
    xp = require_cupy("GPU sky-model prediction") if on_gpu else np
    cdtype = np.complex64 if uvw.dtype == np.float32 else np.complex128
    n_time, n_bl = uvw.shape[0], uvw.shape[1]
    n_chan = frequency.shape[0]
    n_src = flux.shape[0]
    f64 = lambda x: xp.ascontiguousarray(xp.asarray(x, dtype=xp.float64))  # noqa: E731
    alpha = xp.zeros(n_src) if spectral_index is None else f64(spectral_index)
    has_shape = shape is not None
    has_beam = beam is not None
    shape = xp.zeros((1, 3)) if shape is None else f64(shape)
    beam = xp.zeros((1, 1, 1)) if beam is None else f64(beam)
    args = [
        f64(uvw),
        f64(frequency),
        f64(lmn),
        f64(flux),
        alpha,
        float(ref_freq),
        shape,
        beam,
        has_shape,
        has_beam,
    ]
    if on_gpu:
        re = xp.zeros((n_time, n_bl, n_chan), xp.float64)
        im = xp.zeros_like(re)
        dev = args + [re, im]  # CuPy arrays go to the kernel as they are
    else:
        dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
        re = cuda.to_device(np.zeros((n_time, n_bl, n_chan)))
        im = cuda.to_device(np.zeros((n_time, n_bl, n_chan)))
        dev += [re, im]
    n = n_time * n_bl
    tpb = threads_per_block(n)
    _predict_kernel[(n + tpb - 1) // tpb, tpb](*dev)
    if not on_gpu:
        re, im = re.copy_to_host(), im.copy_to_host()
    result = (re + 1j * im).astype(cdtype)
    if out is not None:
        out += result.astype(out.dtype)
        return out
    return result
