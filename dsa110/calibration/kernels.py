"""Numba kernels of calibration: sky-model prediction, gain solving, application.

NumPy arrays in and out; no xarray or dask here. Conventions are those of
:mod:`dsa110.schema`: ``V_ij = g_i · conj(g_j) · M_ij`` with
``M_ij = Σ_s S_s · exp(+2πi (u l + v m + w (n − 1)) / λ)`` and
``uvw = x_j − x_i``.

Gain solving is split in two steps so that it parallelises over chunks:

1. :func:`accumulate_normal` reduces the data of each solution cell (a block of
   times × channels), in one pass that also applies flags, weights and the uv
   range, to per-baseline sums ``A_ij = Σ w conj(M_ij) V_ij``,
   ``B_ij = Σ w |M_ij|²``, ``C_ij = Σ w |V_ij|²`` and ``N_ij = Σ [w > 0]``.
   Sums of these over chunks are the sums over the whole cell.
2. :func:`stefcal` solves each cell from the sums by StEFCal.

References
----------
Salvini, S. & Wijnholds, S. J. 2014, A&A 571, A97, "Fast gain calibration in
radio astronomy using alternating direction implicit methods: Analysis and
applications" (StEFCal).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsa110._compat.numba import JIT_OPTIONS

__all__ = ["predict_vis", "accumulate_normal", "stefcal", "apply_gains"]

_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI
#: Below this many sources the DFT steps one source's phasor along the channels
#: at a time; from it on, all sources' phasors at once (SIMD across sources).
_FEW_SOURCES = 6
_SPEED_OF_LIGHT = 299_792_458.0


@njit(**JIT_OPTIONS, inline="always")
def _cos_sin(x):
    """``(cos x, sin x)`` without a library call, so that loops of it vectorize.

    ``x`` is reduced to ``[-π, π]`` in float64 (absolute error ~``|x|`` · 1e-16,
    the rounding ``x`` already carries), a quarter of it goes through the Taylor
    series of sine and cosine to ``(π/4)^15 / 15!`` ≈ 2e-14, and the angle is
    doubled twice. Measured against NumPy for ``|x|`` < 3000 rad (the phases of
    DSA-110's longest baselines 2° out): ≤ 2e-13 absolute. A pair costs ~1.3 ns
    on one AVX-512 core, against ~30 ns for ``math.cos`` and ``math.sin``
    (Numba without SVML calls libm once per element): those calls were 3/4 of
    the DFT's time on a full tile's 48-channel chunks.
    """
    r = 0.25 * (x - _TWO_PI * np.rint(x * _INV_TWO_PI))
    r2 = r * r
    # Horner: sin r = r (1 − r²/3! + r⁴/5! − … + r¹²/13!)
    s = 1.0 / 6227020800.0
    s = s * r2 - 1.0 / 39916800.0
    s = s * r2 + 1.0 / 362880.0
    s = s * r2 - 1.0 / 5040.0
    s = s * r2 + 1.0 / 120.0
    s = s * r2 - 1.0 / 6.0
    s = r * (s * r2 + 1.0)
    # cos r = 1 − r²/2! + r⁴/4! − … − r¹⁴/14!
    c = -1.0 / 87178291200.0
    c = c * r2 + 1.0 / 479001600.0
    c = c * r2 - 1.0 / 3628800.0
    c = c * r2 + 1.0 / 40320.0
    c = c * r2 - 1.0 / 720.0
    c = c * r2 + 1.0 / 24.0
    c = c * r2 - 0.5
    c = c * r2 + 1.0
    s, c = 2.0 * s * c, (c - s) * (c + s)
    s, c = 2.0 * s * c, (c - s) * (c + s)
    return c, s


@njit(**JIT_OPTIONS, fastmath={"reassoc", "contract"})
def _predict_impl(
    uvw, frequency, lmn, flux, spectral_index, ref_freq, shape, beam, out
):
    n_time, n_bl, _ = uvw.shape
    n_chan = frequency.shape[0]
    n_src = flux.shape[0]
    has_shape = shape.shape[0] == n_src
    has_beam = beam.shape[0] == n_time
    # Evenly spaced channels (every DSA-110 subband): the phasor of channel k is
    # z0 · dz^k, one complex multiply per sample instead of a sincos; the
    # accumulated rounding after k steps is ~k · 1e-16.
    uniform = n_chan > 2
    if n_chan > 1:
        step = frequency[1] - frequency[0]
        for c in range(2, n_chan):
            if abs(frequency[c] - frequency[c - 1] - step) > 1e-9 * abs(frequency[c]):
                uniform = False
                break
    else:
        step = 0.0
    # per source: sin PA, cos PA, and 2π² σ² of the major and minor axes
    fwhm_to_sigma = 1.0 / math.sqrt(8.0 * math.log(2.0))
    gauss = np.zeros((n_src, 4))
    if has_shape:
        for s in range(n_src):
            gauss[s, 0] = math.sin(shape[s, 2])
            gauss[s, 1] = math.cos(shape[s, 2])
            gauss[s, 2] = 2.0 * math.pi**2 * (shape[s, 0] * fwhm_to_sigma) ** 2
            gauss[s, 3] = 2.0 * math.pi**2 * (shape[s, 1] * fwhm_to_sigma) ** 2
    sflux = np.empty((n_chan, n_src))
    amp = np.empty(n_src)
    delay = np.empty(n_src)
    zr = np.empty(n_src)
    zi = np.empty(n_src)
    dzr = np.empty(n_src)
    dzi = np.empty(n_src)
    # Few sources on even channels: one source's phasor recurrence along the
    # channels at a time. Otherwise all sources per channel, the innermost loops
    # running over the sources (SIMD lanes; the order of the sum depends on the
    # number of sources only, never on the chunking).
    by_source = uniform and n_src < _FEW_SOURCES
    # delay per metre of u, v, w: contiguous per source, so that the loops over
    # the sources below vectorize (with _cos_sin inlined: no library call)
    tau_u = np.empty(n_src)
    tau_v = np.empty(n_src)
    tau_w = np.empty(n_src)
    step_rad = _TWO_PI * step
    first_rad = _TWO_PI * frequency[0] if n_chan > 0 else 0.0
    for t in range(n_time):
        for c in range(n_chan):
            for s in range(n_src):
                sflux[c, s] = flux[s] * (frequency[c] / ref_freq) ** spectral_index[s]
                if has_beam:
                    sflux[c, s] *= beam[t, s, c]
        for s in range(n_src):
            tau_u[s] = lmn[t, s, 0] / _SPEED_OF_LIGHT
            tau_v[s] = lmn[t, s, 1] / _SPEED_OF_LIGHT
            tau_w[s] = (lmn[t, s, 2] - 1.0) / _SPEED_OF_LIGHT
        for b in range(n_bl):
            u = uvw[t, b, 0]
            v = uvw[t, b, 1]
            w = uvw[t, b, 2]
            for s in range(n_src):
                d = u * tau_u[s] + v * tau_v[s] + w * tau_w[s]  # seconds
                delay[s] = d
                dzr[s], dzi[s] = _cos_sin(step_rad * d)
                zr[s], zi[s] = _cos_sin(first_rad * d)
            for c in range(n_chan):
                f = frequency[c]
                if c > 0 and not uniform:
                    # the same rounding as channel 0's: the result of a channel
                    # does not depend on where a chunk starts
                    channel_rad = _TWO_PI * f
                    for s in range(n_src):
                        zr[s], zi[s] = _cos_sin(channel_rad * delay[s])
                if by_source:
                    break
                for s in range(n_src):
                    amp[s] = sflux[c, s]
                if has_shape:
                    for s in range(n_src):
                        amp[s] *= _gaussian_taper(u, v, f, gauss, s)
                acc_re = 0.0
                acc_im = 0.0
                for s in range(n_src):
                    acc_re += amp[s] * zr[s]
                    acc_im += amp[s] * zi[s]
                    r = zr[s] * dzr[s] - zi[s] * dzi[s]
                    zi[s] = zr[s] * dzi[s] + zi[s] * dzr[s]
                    zr[s] = r
                out[t, b, c] += complex(acc_re, acc_im)
            if by_source:
                for s in range(n_src):
                    z = complex(zr[s], zi[s])
                    dz = complex(dzr[s], dzi[s])
                    for c in range(n_chan):
                        a = sflux[c, s]
                        if has_shape:
                            a *= _gaussian_taper(u, v, frequency[c], gauss, s)
                        out[t, b, c] += a * z
                        z *= dz
    return out


@njit(**JIT_OPTIONS)
def _gaussian_taper(u, v, f, gauss, s):
    """Visibility amplitude of source ``s``'s Gaussian at ``(u, v)`` m and ``f`` Hz."""
    umaj = (u * gauss[s, 0] + v * gauss[s, 1]) * f / _SPEED_OF_LIGHT
    umin = (u * gauss[s, 1] - v * gauss[s, 0]) * f / _SPEED_OF_LIGHT
    return math.exp(-(gauss[s, 2] * umaj**2 + gauss[s, 3] * umin**2))


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
    """Visibilities of point and Gaussian sources by a direct Fourier transform.

    ``V(t, b, c) = Σ_s S_s (f/f0)^α_s · A(t, s, c) · G_s(u, v) ·
    exp(+2πi f (u l + v m + w (n − 1)) / c)``.

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(time, baseline_id, uvw_label)`` float32/float64 metres.
    frequency : numpy.ndarray
        ``(frequency,)`` float64 Hz.
    lmn : numpy.ndarray
        ``(time, source, 3)`` float64 direction cosines of each source relative to
        each time's phase centre (``n`` itself, not ``n − 1``).
    flux : numpy.ndarray
        ``(source,)`` float64 flux densities at ``ref_freq``, Jy.
    spectral_index : numpy.ndarray, optional, keyword-only
        ``(source,)`` float64; zero by default.
    ref_freq : float, keyword-only
        Reference frequency of ``flux``, Hz.
    shape : numpy.ndarray, optional, keyword-only
        ``(source, 3)`` float64 Gaussian FWHM major, minor axes and position
        angle (north through east), radians; point sources when None.
    beam : numpy.ndarray, optional, keyword-only
        ``(time, source, frequency)`` float64 primary-beam attenuation
        (e.g. :func:`dsa110.telescope.airy_beam`); none when None.
    out : numpy.ndarray, optional, keyword-only
        ``(time, baseline_id, frequency)`` complex buffer, accumulated into.

    Returns
    -------
    numpy.ndarray
        ``(time, baseline_id, frequency)`` complex128 for float64 ``uvw``,
        complex64 for float32 ``uvw``.
    """
    uvw = np.asarray(uvw)
    cdtype = np.complex64 if uvw.dtype == np.float32 else np.complex128
    n_src = np.shape(flux)[0]
    flux = np.asarray(flux, dtype=np.float64)
    alpha = (
        np.zeros(n_src)
        if spectral_index is None
        else np.asarray(spectral_index, np.float64)
    )
    shape = np.zeros((0, 3)) if shape is None else np.asarray(shape, np.float64)
    beam = np.zeros((0, 0, 0)) if beam is None else np.asarray(beam, np.float64)
    acc = np.zeros((uvw.shape[0], uvw.shape[1], np.shape(frequency)[0]), np.complex128)
    _predict_impl(
        np.asarray(uvw, dtype=np.float64),
        np.asarray(frequency, np.float64),
        np.asarray(lmn, np.float64),
        flux,
        alpha,
        float(ref_freq),
        shape,
        beam,
        acc,
    )
    if out is not None:
        out += acc
        return out
    return acc if cdtype == np.complex128 else acc.astype(cdtype)


@njit(**JIT_OPTIONS)
def accumulate_normal(
    vis,
    flag,
    weight,
    model,
    uvw,
    frequency,
    antenna1,
    antenna2,
    jones,
    time_bin,
    chan_bin,
    n_time_bin,
    n_chan_bin,
    uvmin_lambda,
    uvmax_lambda,
    jones_weights=True,
):
    """Per-baseline sums of one chunk for each solution cell (one pass over the data).

    The effective model of baseline (i, j) is ``J_i conj(J_j) M_ij`` (``J``: terms
    already solved, e.g. the bandpass when solving gains). Samples are used when
    unflagged, finite, of positive weight, cross-correlations, and with
    ``uvmin ≤ sqrt(u² + v²)/λ ≤ uvmax``.

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex observed data.
    flag : numpy.ndarray
        Same shape, bool.
    weight : numpy.ndarray
        Same shape, float (e.g. the UVH5 nsamples).
    model : numpy.ndarray
        ``(time, baseline_id, frequency)`` complex model (unpolarised).
    uvw : numpy.ndarray
        ``(time, baseline_id, uvw_label)`` float metres.
    frequency : numpy.ndarray
        ``(frequency,)`` float64 Hz at which each channel's uv cut converts
        metres to wavelengths (the channel frequencies, or CASA's one per window).
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int antenna numbers.
    jones : numpy.ndarray
        ``(antenna, frequency, polarization)`` complex128 known terms (ones
        for none); a zero excludes the samples.
    time_bin : numpy.ndarray
        ``(time,)`` int64 solution-interval index of each time (local, 0-based).
    chan_bin : numpy.ndarray
        ``(frequency,)`` int64 solution-channel index of each channel.
    n_time_bin, n_chan_bin : int
        Number of time and channel cells.
    uvmin_lambda, uvmax_lambda : float
        Accepted projected baseline lengths, wavelengths.
    jones_weights : bool
        Weight each sample by ``w |J_i J_j|²`` (True: maximum likelihood for
        noise of equal variance in the raw data), or by ``w`` alone as if
        the data were first corrected by ``J`` without recalibrating their
        weights (False; what CASA ``gaincal`` does with a pre-applied bandpass).

    Returns
    -------
    a : numpy.ndarray
        ``(n_time_bin, n_chan_bin, baseline_id, polarization)`` complex128,
        ``Σ w conj(M') V``.
    b, c, n : numpy.ndarray
        Same shape, float64: ``Σ w |M'|²``, ``Σ w |V|²`` and the number of
        samples used.
    """
    n_time, n_bl, n_chan, n_pol = vis.shape
    # Accumulate in (time_bin, baseline, chan_bin, pol) order, which the loops
    # below write contiguously, and transpose once at the end.
    a = np.zeros((n_time_bin, n_bl, n_chan_bin, n_pol), np.complex128)
    b = np.zeros((n_time_bin, n_bl, n_chan_bin, n_pol), np.float64)
    c = np.zeros((n_time_bin, n_bl, n_chan_bin, n_pol), np.float64)
    n = np.zeros((n_time_bin, n_bl, n_chan_bin, n_pol), np.float64)
    for t in range(n_time):
        tb = time_bin[t]
        for bl in range(n_bl):
            i = antenna1[bl]
            j = antenna2[bl]
            if i == j:
                continue
            uv = math.sqrt(uvw[t, bl, 0] ** 2 + uvw[t, bl, 1] ** 2)
            for ch in range(n_chan):
                uvl = uv * frequency[ch] / _SPEED_OF_LIGHT
                if uvl < uvmin_lambda or uvl > uvmax_lambda:
                    continue
                cb = chan_bin[ch]
                m0 = complex(model[t, bl, ch])
                for p in range(n_pol):
                    w = weight[t, bl, ch, p]
                    if flag[t, bl, ch, p] or not w > 0.0:
                        continue
                    v = complex(vis[t, bl, ch, p])
                    if not (math.isfinite(v.real) and math.isfinite(v.imag)):
                        continue
                    jj = jones[i, ch, p] * jones[j, ch, p].conjugate()
                    if jj == 0:
                        continue
                    m = jj * m0
                    if m == 0:
                        continue
                    if not jones_weights:
                        w = w / (jj.real * jj.real + jj.imag * jj.imag)
                    a[tb, bl, cb, p] += w * m.conjugate() * v
                    b[tb, bl, cb, p] += w * (m.real * m.real + m.imag * m.imag)
                    c[tb, bl, cb, p] += w * (v.real * v.real + v.imag * v.imag)
                    n[tb, bl, cb, p] += 1.0
    return (
        np.ascontiguousarray(a.transpose(0, 2, 1, 3)),
        np.ascontiguousarray(b.transpose(0, 2, 1, 3)),
        np.ascontiguousarray(c.transpose(0, 2, 1, 3)),
        np.ascontiguousarray(n.transpose(0, 2, 1, 3)),
    )


@njit(**JIT_OPTIONS)
def _stefcal_cell(a, b, a1, a2, active, g, phase_only, max_iter, tol):
    n_ant = g.shape[0]
    num = np.zeros(n_ant, np.complex128)
    den = np.zeros(n_ant, np.float64)
    g_old = g.copy()
    it = 0
    for it in range(1, max_iter + 1):
        num[:] = 0.0
        den[:] = 0.0
        for k in range(a.shape[0]):
            i = a1[k]
            j = a2[k]
            if i == j or b[k] <= 0.0 or not (active[i] and active[j]):
                continue
            # V_ij ≈ g_i conj(g_j) M_ij and V_ji = conj(V_ij).
            num[i] += g_old[j] * a[k]
            den[i] += (g_old[j].real ** 2 + g_old[j].imag ** 2) * b[k]
            num[j] += g_old[i] * a[k].conjugate()
            den[j] += (g_old[i].real ** 2 + g_old[i].imag ** 2) * b[k]
        diff = 0.0
        norm = 0.0
        for p in range(n_ant):
            if not active[p] or den[p] <= 0.0:
                g[p] = 0.0
                continue
            gp = num[p] / den[p]
            if phase_only:
                mag = abs(gp)
                gp = gp / mag if mag > 0.0 else complex(1.0, 0.0)
            if it % 2 == 0:
                # StEFCal: average every other iteration to damp oscillation.
                gp = 0.5 * (gp + g_old[p])
            diff += abs(gp - g_old[p]) ** 2
            norm += abs(gp) ** 2
            g[p] = gp
        g_old[:] = g
        if norm > 0.0 and math.sqrt(diff / norm) < tol:
            break
    return it


@njit(**JIT_OPTIONS)
def stefcal(
    a, b, c, n, antenna1, antenna2, n_ant, phase_only, max_iter, tol, min_baselines
):
    """Solve per-antenna complex gains of every cell by StEFCal.

    Minimises ``Σ w |V_ij − g_i conj(g_j) M_ij|²`` over cross-correlations,
    iterating ``g_p ← Σ_q g_q A_pq / Σ_q |g_q|² B_pq`` and averaging every
    second iteration (Salvini & Wijnholds 2014), which converges linearly for a
    well-conditioned array. Antennas with fewer than ``min_baselines``
    baselines with data are removed, repeatedly, before the solve.

    Parameters
    ----------
    a : numpy.ndarray
        ``(n_time_bin, n_chan_bin, baseline_id, polarization)`` complex128 from
        :func:`accumulate_normal` (summed over chunks).
    b, c, n : numpy.ndarray
        Same shape, float64.
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int antenna numbers (< ``n_ant``).
    n_ant : int
        Size of the antenna axis of the output.
    phase_only : bool
        Keep ``|g| = 1``.
    max_iter : int
        Iteration limit.
    tol : float
        Stop when ``‖g_k − g_{k−1}‖ / ‖g_k‖ < tol``.
    min_baselines : int
        Minimum number of baselines with data per antenna.

    Returns
    -------
    gains : numpy.ndarray
        ``(n_time_bin, n_chan_bin, n_ant, polarization)`` complex128; zero
        where not solved.
    ok : numpy.ndarray
        Same shape, bool: solved.
    sigma_g : numpy.ndarray
        Same shape, float64: the thermal-noise standard deviation of each real
        and imaginary part of the gain, ``σ / sqrt(Σ_q |g_q|² B_pq)`` with
        ``σ² = χ² / (2 Σ N − 2 n_solved)`` the per-part noise variance of the
        residuals of the cell (unit weights).
    n_iter : numpy.ndarray
        ``(n_time_bin, n_chan_bin, polarization)`` int64 iterations used.
    """
    n_tb, n_cb, n_bl, n_pol = a.shape
    gains = np.zeros((n_tb, n_cb, n_ant, n_pol), np.complex128)
    ok = np.zeros((n_tb, n_cb, n_ant, n_pol), np.bool_)
    sigma_g = np.full((n_tb, n_cb, n_ant, n_pol), np.inf)
    n_iter = np.zeros((n_tb, n_cb, n_pol), np.int64)
    active = np.zeros(n_ant, np.bool_)
    nbl = np.zeros(n_ant, np.int64)
    g = np.zeros(n_ant, np.complex128)
    for tb in range(n_tb):
        for cb in range(n_cb):
            for p in range(n_pol):
                ac = a[tb, cb, :, p]
                bc = b[tb, cb, :, p]
                active[:] = False
                for k in range(n_bl):
                    if antenna1[k] != antenna2[k] and bc[k] > 0.0:
                        active[antenna1[k]] = True
                        active[antenna2[k]] = True
                changed = True
                while changed:
                    changed = False
                    nbl[:] = 0
                    for k in range(n_bl):
                        i = antenna1[k]
                        j = antenna2[k]
                        if i != j and bc[k] > 0.0 and active[i] and active[j]:
                            nbl[i] += 1
                            nbl[j] += 1
                    for q in range(n_ant):
                        if active[q] and nbl[q] < min_baselines:
                            active[q] = False
                            changed = True
                n_solved = 0
                for q in range(n_ant):
                    g[q] = 1.0 if active[q] else 0.0
                    n_solved += active[q]
                if n_solved < 2:
                    continue
                n_iter[tb, cb, p] = _stefcal_cell(
                    ac, bc, antenna1, antenna2, active, g, phase_only, max_iter, tol
                )
                # Residual χ² and the noise of each gain.
                chi2 = 0.0
                count = 0.0
                d = np.zeros(n_ant, np.float64)
                for k in range(n_bl):
                    i = antenna1[k]
                    j = antenna2[k]
                    if i == j or bc[k] <= 0.0 or not (active[i] and active[j]):
                        continue
                    gij = g[i].conjugate() * g[j]
                    chi2 += (
                        c[tb, cb, k, p]
                        - 2.0 * (gij * ac[k]).real
                        + abs(g[i]) ** 2 * abs(g[j]) ** 2 * bc[k]
                    )
                    count += n[tb, cb, k, p]
                    d[i] += abs(g[j]) ** 2 * bc[k]
                    d[j] += abs(g[i]) ** 2 * bc[k]
                dof = 2.0 * count - 2.0 * n_solved
                sigma = math.sqrt(max(chi2, 0.0) / dof) if dof > 0 else np.inf
                for q in range(n_ant):
                    if active[q] and d[q] > 0.0:
                        gains[tb, cb, q, p] = g[q]
                        ok[tb, cb, q, p] = True
                        sigma_g[tb, cb, q, p] = sigma / math.sqrt(d[q])
    return gains, ok, sigma_g, n_iter


@njit(**JIT_OPTIONS)
def apply_gains(vis, flag, antenna1, antenna2, gains, gain_flag):
    """Divide the gains out of the data: ``V_ij / (g_i · conj(g_j))``.

    Parameters
    ----------
    vis : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` complex.
    flag : numpy.ndarray
        Same shape, bool.
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int antenna numbers.
    gains : numpy.ndarray
        ``(time, antenna, frequency, polarization)`` complex, indexed by
        antenna number.
    gain_flag : numpy.ndarray
        Same shape as ``gains``, bool.

    Returns
    -------
    out_vis : numpy.ndarray
        Like ``vis`` (same dtype); unchanged where a gain is flagged or zero.
    out_flag : numpy.ndarray
        ``flag`` OR either antenna's gain flag.
    """
    n_time, n_bl, n_chan, n_pol = vis.shape
    n_ant = gains.shape[1]
    out = np.empty_like(vis)
    out_flag = np.empty_like(flag)
    # one reciprocal per antenna, not one division per baseline:
    # 1 / (g_i conj(g_j)) = (1 / g_i) · conj(1 / g_j)
    inverse = np.empty((n_ant, n_chan, n_pol), np.complex128)
    bad = np.empty((n_ant, n_chan, n_pol), np.bool_)
    for t in range(n_time):
        for a in range(n_ant):
            for ch in range(n_chan):
                for p in range(n_pol):
                    g = gains[t, a, ch, p]
                    bad[a, ch, p] = gain_flag[t, a, ch, p] or g == 0
                    inverse[a, ch, p] = 0 if bad[a, ch, p] else 1.0 / g
        for k in range(n_bl):
            i = antenna1[k]
            j = antenna2[k]
            for ch in range(n_chan):
                for p in range(n_pol):
                    v = vis[t, k, ch, p]
                    if bad[i, ch, p] or bad[j, ch, p]:
                        out_flag[t, k, ch, p] = True
                        out[t, k, ch, p] = v
                    else:
                        out_flag[t, k, ch, p] = flag[t, k, ch, p]
                        out[t, k, ch, p] = v * (
                            inverse[i, ch, p] * inverse[j, ch, p].conjugate()
                        )
    return out, out_flag
