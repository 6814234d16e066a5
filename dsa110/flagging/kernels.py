"""Numba flagging kernels: NumPy arrays in, boolean flag arrays out.

Every kernel takes the visibilities (and the flags they already carry) of one
chunk with dims ``(time, baseline_id, frequency, polarization)`` and returns the
*combined* flags ``old | new`` with the same shape (bool). They know nothing of
dask or xarray. NaN and ±Inf visibilities are always flagged and never take part
in any statistic; no kernel uses ``fastmath`` (it would let LLVM assume no NaNs).

The SumThreshold, MAD-clip and extension kernels work on whole time–frequency
planes of one (baseline, polarization): the result for a sample depends on every
time and frequency of its plane in the chunk. :mod:`dsa110.flagging.dask`
rechunks to whole planes before calling them.

Numba's on-disk cache (``cache=True``) keys each kernel by its own file only: the
kernels here that call :mod:`dsa110.flagging.plane` keep running the cached,
older plane code after ``plane.py`` alone is edited (seen while developing
it). Edit or touch this file too, or clear the cache, after changing
``plane.py``.

References
----------
.. [1] A. R. Offringa et al., "Post-correlation radio frequency interference
   classification methods", MNRAS 405, 155 (2010).
.. [2] A. R. Offringa, J. J. van de Gronde, J. B. T. M. Roerdink, "A
   morphological algorithm for improving radio-frequency interference
   detection", A&A 539, A95 (2012).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsa110._compat.numba import JIT_OPTIONS
from dsa110.flagging.plane import (
    plane_scratch,
    sigma_stride,
    sumthreshold_plane_fast,
    sumthreshold_plane_into,
)
from dsa110.flagging.plane import robust_sigma as _robust_sigma_select

__all__ = [
    "MAD_TO_SIGMA",
    "flag_invalid",
    "flag_amplitude",
    "flag_baselines",
    "sumthreshold_1d",
    "masked_gaussian_smooth",
    "sumthreshold_plane",
    "sumthreshold",
    "mad_clip",
    "extend_flags",
    "flag_planes",
]

#: Factor turning a median absolute deviation into a Gaussian σ.
MAD_TO_SIGMA = 1.482602218505602


@njit(**JIT_OPTIONS)
def _amplitude(v):
    """``|v|`` as ``sqrt(re² + im²)`` in float64.

    ``abs(complex)`` calls ``hypot``, which guards against overflow at several
    times the cost; visibilities are nowhere near 1e150.
    """
    re = np.float64(v.real)
    im = np.float64(v.imag)
    return math.sqrt(re * re + im * im)


@njit(**JIT_OPTIONS)
def flag_invalid(vis, flags):
    """Flag exact zeros and non-finite (NaN, ±Inf) visibilities.

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex64/complex128.
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, the data's flags.

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool: ``flags`` or'ed
        with samples whose real or imaginary part is non-finite, or that are
        exactly zero (a correlator that dropped data writes zeros).
    """
    out = flags.copy()
    v = vis.ravel()
    o = out.ravel()
    for i in range(v.size):
        re = v[i].real
        im = v[i].imag
        if not (np.isfinite(re) and np.isfinite(im)):
            o[i] = True
        elif re == 0.0 and im == 0.0:
            o[i] = True
    return out


@njit(**JIT_OPTIONS)
def flag_amplitude(vis, flags, *, threshold):
    """Flag samples whose amplitude exceeds ``threshold`` (and non-finite ones).

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex.
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool.
    threshold : float, keyword-only
        Largest acceptable ``|V|`` (same unit as ``vis``, Jy).

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, ``flags | new``.
    """
    out = flags.copy()
    v = vis.ravel()
    o = out.ravel()
    for i in range(v.size):
        a = abs(v[i])
        # ``not (a <= t)`` is True for NaN too.
        if not (a <= threshold):
            o[i] = True
    return out


@njit(**JIT_OPTIONS)
def flag_baselines(flags, bad_baseline):
    """Flag every sample of the baselines marked in ``bad_baseline``.

    Parameters
    ----------
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool.
    bad_baseline : numpy.ndarray
        ``(baseline_id,)`` bool: True for a baseline to flag entirely (an
        autocorrelation, a baseline of a dead antenna).

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, ``flags | new``.
    """
    out = flags.copy()
    for b in range(flags.shape[1]):
        if bad_baseline[b]:
            out[:, b, :, :] = True
    return out


@njit(**JIT_OPTIONS)
def sumthreshold_1d(values, flags, *, window, threshold):
    """One SumThreshold pass along the last axis, for one window size.

    Every run of ``window`` consecutive samples whose unflagged values have a
    mean above ``threshold`` — ``Σ x > threshold · n`` over the ``n > 0``
    unflagged samples of the run — is flagged entirely. Flagged and non-finite
    samples are left out of the sums (they neither hide nor create detections).
    Only positive excursions count: RFI adds power, whereas the negative
    residuals beside a strong burst are an artefact of the smoothed background
    (drop-outs to zero are caught by :func:`flag_invalid`).

    Parameters
    ----------
    values : numpy.ndarray
        ``(row, sample)`` float32/float64: residual amplitudes, one 1-D series
        per row (a channel's time series or an integration's spectrum).
    flags : numpy.ndarray
        ``(row, sample)`` bool: samples excluded from the sums.
    window : int, keyword-only
        Run length ``M`` (≥ 1).
    threshold : float, keyword-only
        ``χ_M``, same unit as ``values``.

    Returns
    -------
    numpy.ndarray
        ``(row, sample)`` bool: ``flags`` or'ed with the newly flagged runs.

    Notes
    -----
    A sliding sum makes the pass O(samples), independent of ``window``.
    :func:`dsa110.flagging.cuda.sumthreshold_1d` has the same signature and
    results.
    """
    return _sumthreshold_1d_impl(values, flags, window, threshold)


# Numba cannot fold keyword-only arguments in calls from one jitted function to
# another, so the public kernels are thin keyword-only fronts over these.
@njit(**JIT_OPTIONS)
def _sumthreshold_1d_impl(values, flags, window, threshold):
    n_row, n = values.shape
    out = flags.copy()
    if window < 1 or window > n:
        return out
    v = np.empty(n)
    c = np.empty(n, dtype=np.int64)
    hit = np.empty(n + 1, dtype=np.int64)
    for r in range(n_row):
        for i in range(n):
            x = values[r, i]
            if flags[r, i] or not np.isfinite(x):
                v[i] = 0.0
                c[i] = 0
            else:
                v[i] = x
                c[i] = 1
            hit[i] = 0
        hit[n] = 0
        s = 0.0
        cnt = 0
        for i in range(n):
            s += v[i]
            cnt += c[i]
            if i >= window:
                s -= v[i - window]
                cnt -= c[i - window]
            if i >= window - 1 and cnt > 0 and s > threshold * cnt:
                # Mark the run [i - window + 1, i] in a difference array.
                hit[i - window + 1] += 1
                hit[i + 1] -= 1
        run = 0
        for i in range(n):
            run += hit[i]
            if run > 0:
                out[r, i] = True
    return out


@njit(**JIT_OPTIONS)
def _gaussian_kernel(sigma):
    if sigma <= 0.0:
        return np.ones(1)
    half = int(math.ceil(3.0 * sigma))
    k = np.empty(2 * half + 1)
    for i in range(-half, half + 1):
        k[i + half] = math.exp(-0.5 * (i / sigma) ** 2)
    return k


@njit(**JIT_OPTIONS)
def masked_gaussian_smooth(values, flags, *, sigma_time, sigma_frequency):
    """Gaussian-smooth a time–frequency plane, ignoring flagged samples.

    The exact (truncated) Gaussian, at a cost per sample that grows with σ;
    :func:`sumthreshold_plane` uses the O(1)-per-sample almost-Gaussian
    :func:`dsa110.flagging.plane.masked_box_smooth` instead.

    Normalised convolution: ``(G * (w x)) / (G * w)`` with ``w = 0`` on flagged
    or non-finite samples, separable in time and frequency, truncated at 3σ.

    Parameters
    ----------
    values : numpy.ndarray
        ``(time, frequency)`` float.
    flags : numpy.ndarray
        ``(time, frequency)`` bool.
    sigma_time : float, keyword-only
        Kernel width along time, in samples (0: no smoothing along time).
    sigma_frequency : float, keyword-only
        Kernel width along frequency, in channels.

    Returns
    -------
    numpy.ndarray
        ``(time, frequency)`` float64 background; 0 where the kernel covers no
        unflagged sample.
    """
    return _smooth_impl(values, flags, sigma_time, sigma_frequency)


@njit(**JIT_OPTIONS)
def _smooth_impl(values, flags, sigma_time, sigma_frequency):
    n_t, n_f = values.shape
    w = np.zeros((n_t, n_f))
    x = np.zeros((n_t, n_f))
    for i in range(n_t):
        for j in range(n_f):
            if not flags[i, j] and np.isfinite(values[i, j]):
                w[i, j] = 1.0
                x[i, j] = values[i, j]
    kt = _gaussian_kernel(sigma_time)
    kf = _gaussian_kernel(sigma_frequency)
    ht = kt.size // 2
    hf = kf.size // 2
    # Separable: along time (inner loop over contiguous frequency) ...
    num_t = np.zeros((n_t, n_f))
    den_t = np.zeros((n_t, n_f))
    for i in range(n_t):
        for k in range(max(0, i - ht), min(n_t, i + ht + 1)):
            g = kt[k - i + ht]
            for j in range(n_f):
                num_t[i, j] += g * x[k, j]
                den_t[i, j] += g * w[k, j]
    # ... then along frequency; loops ordered so the inner one is contiguous.
    num = np.zeros((n_t, n_f))
    den = np.zeros((n_t, n_f))
    for i in range(n_t):
        for d in range(-hf, hf + 1):
            g = kf[d + hf]
            for j in range(max(0, -d), min(n_f, n_f - d)):
                num[i, j] += g * num_t[i, j + d]
                den[i, j] += g * den_t[i, j + d]
    out = np.zeros((n_t, n_f))
    for i in range(n_t):
        for j in range(n_f):
            if den[i, j] > 1e-12:
                out[i, j] = num[i, j] / den[i, j]
    return out


@njit(**JIT_OPTIONS)
def _robust_sigma(values, flags):
    """MAD-based σ of the unflagged finite samples (NaN when there are none)."""
    return _robust_sigma_select(values, flags, np.empty(2 * values.size))


@njit(**JIT_OPTIONS)
def sumthreshold_plane(
    amplitude,
    flags,
    *,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
):
    """Run iterative SumThreshold on one time–frequency plane.

    Each iteration smooths the unflagged amplitudes into a background
    (:func:`dsa110.flagging.plane.masked_box_smooth`: an almost-Gaussian kernel of
    three boxes per axis, fitted on the plane downsampled along time and
    interpolated back; from the second iteration on, lines along time rather than
    means, so that a drifting source's trend is no edge residual), takes the
    residual, estimates its σ robustly (MAD, by selection, over a regular subsample
    of ≥ 4096 samples: :func:`dsa110.flagging.plane.sigma_stride`), and runs
    SumThreshold with windows ``M = 1, 2, 4, …, max_window`` along time and along
    frequency with ``χ_M = f · threshold · σ / ρ^{log2 M}``; the sensitivity factor
    ``f`` is ``threshold_step^(n_iter − 1 − iteration)`` (coarse first, then finer,
    as AOFlagger). Samples flagged by one step are excluded from the next: the time
    pass of window ``M``, then its frequency pass, then window ``2M``. Every step is
    O(1) per sample (running sums, selection; see :mod:`dsa110.flagging.plane`).

    Parameters
    ----------
    amplitude : numpy.ndarray
        ``(time, frequency)`` float: ``|V|`` of one baseline and polarization.
    flags : numpy.ndarray
        ``(time, frequency)`` bool: flags already set.
    threshold : float, keyword-only
        ``χ_1`` in units of the residual's σ.
    rho : float, keyword-only
        Threshold decrease per doubling of the window (1.5 in [1]_).
    max_window : int, keyword-only
        Largest window (capped at each axis' length).
    n_iter : int, keyword-only
        Background/threshold iterations.
    threshold_step : float, keyword-only
        Sensitivity factor between iterations.
    sigma_time, sigma_frequency : float, keyword-only
        Background smoothing widths in samples and channels.

    Returns
    -------
    numpy.ndarray
        ``(time, frequency)`` bool: ``flags`` or'ed with the detections and the
        non-finite samples.
    """
    return _sumthreshold_plane_impl(
        amplitude,
        flags,
        threshold,
        rho,
        max_window,
        n_iter,
        threshold_step,
        sigma_time,
        sigma_frequency,
    )


_sumthreshold_plane_impl = sumthreshold_plane_fast


@njit(**JIT_OPTIONS)
def sumthreshold(
    vis,
    flags,
    *,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
):
    """Run iterative SumThreshold per baseline and polarization on ``|V|``.

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex.
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool.
    threshold, rho, max_window, n_iter, threshold_step, sigma_time, sigma_frequency
        See :func:`sumthreshold_plane` (keyword-only).

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, ``flags | new``.
    """
    n_t, n_b, n_f, n_p = vis.shape
    out = flags.copy()
    amp = np.empty((n_t, n_f))
    fl = np.empty((n_t, n_f), dtype=np.bool_)
    scratch = plane_scratch(n_t, n_f)  # reused by every plane
    for b in range(n_b):
        for p in range(n_p):
            for i in range(n_t):
                for j in range(n_f):
                    amp[i, j] = _amplitude(vis[i, b, j, p])
                    fl[i, j] = flags[i, b, j, p]
            sumthreshold_plane_into(
                amp,
                fl,
                threshold,
                rho,
                max_window,
                n_iter,
                threshold_step,
                sigma_time,
                sigma_frequency,
                scratch,
            )
            for i in range(n_t):
                for j in range(n_f):
                    out[i, b, j, p] = fl[i, j]
    return out


@njit(**JIT_OPTIONS)
def mad_clip(vis, flags, *, sigma):
    """Robust amplitude clip per baseline and polarization.

    With ``m`` the median and ``s = 1.4826 · MAD`` of the unflagged finite
    ``|V|`` of one (baseline, polarization) plane, flags ``| |V| − m | > sigma · s``.
    ``m`` and ``s`` come from every k-th sample of the plane (C order, ``k =``
    :func:`dsa110.flagging.plane.sigma_stride`: 3 for 24 × 768, 1 up to 8191
    samples), as the σ of :func:`sumthreshold_plane`.

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex.
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool.
    sigma : float, keyword-only
        Clip level in robust σ (7 at DSA-110).

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, ``flags | new``
        (non-finite samples included). A plane with ``MAD = 0`` gets no new
        flags.
    """
    n_t, n_b, n_f, n_p = vis.shape
    out = np.empty(flags.shape, np.bool_)
    amp = np.empty((n_t, n_f))
    fl = np.empty((n_t, n_f), dtype=np.bool_)
    buf = np.empty(2 * n_t * n_f)
    stride = sigma_stride(n_t * n_f)
    for b in range(n_b):
        for p in range(n_p):
            for i in range(n_t):
                for j in range(n_f):
                    amp[i, j] = _amplitude(vis[i, b, j, p])
                    fl[i, j] = flags[i, b, j, p]
            _mad_clip_plane(amp, fl, buf, stride, sigma)
            for i in range(n_t):
                for j in range(n_f):
                    out[i, b, j, p] = fl[i, j]
    return out


@njit(**JIT_OPTIONS)
def _mad_clip_plane(amp, fl, buf, stride, sigma):
    """Or the MAD clip of one ``(time, frequency)`` plane of ``|V|`` into ``fl``.

    Non-finite samples always; ``|a − m| > sigma · s`` where ``s > 0`` (``m``,
    ``s`` from every ``stride``-th unflagged sample, :func:`mad_clip`).
    """
    med, s = _robust_sigma_select(amp, fl, buf, stride)
    limit = sigma * s if s > 0.0 else np.inf
    n_t, n_f = amp.shape
    for i in range(n_t):
        a_i = amp[i]
        f_i = fl[i]
        for j in range(n_f):
            a = a_i[j]
            # Branch-free: ``not <=`` is also True for NaN, ``isfinite`` for ±Inf.
            f_i[j] = f_i[j] | (not (abs(a - med) <= limit)) | (not np.isfinite(a))


@njit(**JIT_OPTIONS)
def _extend_columns(fl, fraction):
    """Flag in full every column of ``fl`` flagged in more than ``fraction`` of its rows."""
    n_r, n_c = fl.shape
    for j in range(n_c):
        cnt = 0
        for i in range(n_r):
            cnt += fl[i, j]
        if cnt > fraction * n_r:
            for i in range(n_r):
                fl[i, j] = True


@njit(**JIT_OPTIONS)
def _extend_plane(fl, time_fraction, frequency_fraction):
    """Extend the flags of one ``(time, frequency)`` plane in place.

    A channel flagged in more than ``time_fraction`` of the integrations is
    flagged in all of them; then an integration flagged in more than
    ``frequency_fraction`` of the channels is flagged in all of them (a fraction
    ``≥ 1`` disables its step, :func:`extend_flags`).
    """
    if time_fraction < 1.0:
        _extend_columns(fl, time_fraction)
    if frequency_fraction < 1.0:
        _extend_columns(fl.T, frequency_fraction)


@njit(**JIT_OPTIONS)
def extend_flags(flags, *, polarization, time_fraction, frequency_fraction):
    """Extend flags across polarizations, whole channels and whole integrations.

    In this order: a sample flagged in any polarization is flagged in all (when
    ``polarization``); per baseline and polarization, a channel flagged in more
    than ``time_fraction`` of the integrations is flagged in all of them; an
    integration flagged in more than ``frequency_fraction`` of the channels is
    flagged in all of them.

    Parameters
    ----------
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool.
    polarization : bool, keyword-only
        Extend across polarizations.
    time_fraction : float, keyword-only
        In (0, 1]; 1 disables extension along time.
    frequency_fraction : float, keyword-only
        In (0, 1]; 1 disables extension along frequency.

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool (a superset of
        ``flags``).
    """
    n_t, n_b, n_f, n_p = flags.shape
    out = flags.copy()
    if polarization and n_p > 1:
        for i in range(n_t):
            for b in range(n_b):
                for j in range(n_f):
                    anyf = False
                    for p in range(n_p):
                        anyf = anyf or out[i, b, j, p]
                    if anyf:
                        for p in range(n_p):
                            out[i, b, j, p] = True
    for b in range(n_b):
        for p in range(n_p):
            _extend_plane(out[:, b, :, p], time_fraction, frequency_fraction)
    return out


@njit(**JIT_OPTIONS)
def flag_planes(
    vis,
    flags,
    *,
    invalid,
    sumthreshold,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
    mad_sigma,
    polarization,
    time_fraction,
    frequency_fraction,
):
    """Run SumThreshold, the MAD clip and flag extension one baseline at a time.

    The flags of :func:`flag_invalid` (optional), :func:`sumthreshold`,
    :func:`mad_clip` and :func:`extend_flags` called one after the other (each
    step on the flags of the one before), but each baseline's planes are read,
    flagged and extended while they are in cache, and ``|V|`` is computed once.

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex.
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool.
    invalid : bool, keyword-only
        First flag zeros and non-finite samples, as :func:`flag_invalid`.
    sumthreshold : bool, keyword-only
        Run :func:`sumthreshold` (with the next seven options).
    threshold, rho, max_window, n_iter, threshold_step, sigma_time, sigma_frequency
        See :func:`sumthreshold_plane` (keyword-only).
    mad_sigma : float, keyword-only
        Clip level of :func:`mad_clip`; ``≤ 0``: no MAD clip.
    polarization, time_fraction, frequency_fraction : keyword-only
        As for :func:`extend_flags` (``False, 1, 1``: no extension).

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, ``flags | new``.
    """
    return _flag_planes_impl(
        vis,
        flags,
        invalid,
        sumthreshold,
        threshold,
        rho,
        max_window,
        n_iter,
        threshold_step,
        sigma_time,
        sigma_frequency,
        mad_sigma,
        polarization,
        time_fraction,
        frequency_fraction,
    )


@njit(**JIT_OPTIONS)
def _flag_planes_impl(
    vis,
    flags,
    invalid,
    do_st,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
    mad_sigma,
    polarization,
    time_fraction,
    frequency_fraction,
):
    n_t, n_b, n_f, n_p = vis.shape
    out = np.empty(flags.shape, np.bool_)
    amp = np.empty((n_p, n_t, n_f))
    fl = np.empty((n_p, n_t, n_f), dtype=np.bool_)
    scratch = plane_scratch(n_t, n_f)  # reused by every plane
    buf = scratch[2]
    stride = sigma_stride(n_t * n_f)
    for b in range(n_b):
        for i in range(n_t):
            # Row views: (channel, polarization) of one integration.
            v_i = vis[i, b]
            g_i = flags[i, b]
            for p in range(n_p):
                a_p = amp[p, i]
                f_p = fl[p, i]
                for j in range(n_f):
                    v = v_i[j, p]
                    re = np.float64(v.real)
                    im = np.float64(v.imag)
                    a_p[j] = re * re + im * im  # |V|², rooted below
                    f = g_i[j, p]
                    if invalid:
                        if not (np.isfinite(re) and np.isfinite(im)):
                            f = True
                        elif re == 0.0 and im == 0.0:
                            f = True
                    f_p[j] = f
                # The square roots as a contiguous pass (vectorised): 2x
                # faster than one per element in the strided loop above.
                for j in range(n_f):
                    a_p[j] = math.sqrt(a_p[j])
        for p in range(n_p):
            a_p = amp[p]
            f_p = fl[p]
            if do_st:
                sumthreshold_plane_into(
                    a_p,
                    f_p,
                    threshold,
                    rho,
                    max_window,
                    n_iter,
                    threshold_step,
                    sigma_time,
                    sigma_frequency,
                    scratch,
                )
            if mad_sigma > 0.0:
                _mad_clip_plane(a_p, f_p, buf, stride, mad_sigma)
        if polarization and n_p > 1:
            for i in range(n_t):
                for j in range(n_f):
                    anyf = False
                    for p in range(n_p):
                        anyf = anyf or fl[p, i, j]
                    if anyf:
                        for p in range(n_p):
                            fl[p, i, j] = True
        for p in range(n_p):
            _extend_plane(fl[p], time_fraction, frequency_fraction)
        for i in range(n_t):
            o_i = out[i, b]
            for p in range(n_p):
                f_p = fl[p, i]
                for j in range(n_f):
                    o_i[j, p] = f_p[j]
    return out
