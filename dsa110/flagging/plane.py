"""Fast Numba kernels for one time–frequency plane: background, σ, SumThreshold.

The plane flagger (:func:`dsa110.flagging.kernels.sumthreshold_plane`) runs,
per iteration, a masked background fit, a robust σ and SumThreshold with windows
``1, 2, 4, …`` along time and frequency. Here each step costs O(1) per sample,
independent of the kernel width and the window:

* the background is a normalised convolution with an *almost-Gaussian* kernel,
  three box filters per axis whose widths match the Gaussian's σ
  (:func:`box_widths`; P. Kovesi, "Fast almost-Gaussian filtering", DICTA 2010),
  each box a difference of running (prefix) sums;
* the median and the MAD come from a selection (Hoare's quickselect, O(N)),
  not a sort;
* every SumThreshold window sum is a difference of two prefix sums of the
  unflagged residuals, kept per row (frequency passes) and per plane (time
  passes) and recomputed only after a pass has flagged something new, so that
  the passes run along both axes without transposes.

The result of a pass depends only on the flags before it, as in
:func:`dsa110.flagging.kernels.sumthreshold_1d` (same decisions up to the
rounding of the sums).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsa110._compat.numba import JIT_OPTIONS

__all__ = ["box_widths", "masked_box_smooth", "median_select", "robust_sigma"]

_MAD_TO_SIGMA = 1.482602218505602


@njit(**JIT_OPTIONS)
def box_widths(sigma):
    """Widths of three box filters whose convolution approximates a Gaussian.

    Parameters
    ----------
    sigma : float
        Gaussian σ in samples; ``≤ 0`` gives widths ``(1, 1, 1)`` (no smoothing).

    Returns
    -------
    numpy.ndarray
        ``(3,)`` int64 odd widths: ``m`` boxes of ``w`` and ``3 − m`` of
        ``w + 2``, chosen so that the summed variance ``Σ (wₖ² − 1)/12`` is the
        closest to ``σ²`` (Kovesi 2010).
    """
    out = np.ones(3, np.int64)
    if not sigma > 0.0:
        return out
    n = 3
    wl = int(math.floor(math.sqrt(12.0 * sigma * sigma / n + 1.0)))
    if wl % 2 == 0:
        wl -= 1
    wl = max(wl, 1)
    m = int(
        round(
            (12.0 * sigma * sigma - n * wl * wl - 4.0 * n * wl - 3.0 * n)
            / (-4.0 * wl - 4.0)
        )
    )
    m = min(max(m, 0), n)
    for k in range(n):
        out[k] = wl if k < m else wl + 2
    return out


@njit(**JIT_OPTIONS)
def _box_time(num, den, out_n, out_d, pre_n, pre_d, half):
    """Box sums ``Σ_{|k−i| ≤ half}`` along axis 0 of ``num`` and ``den``."""
    n_t, n_f = num.shape
    for j in range(n_f):
        pre_n[0, j] = 0.0
        pre_d[0, j] = 0.0
    for i in range(n_t):
        for j in range(n_f):
            pre_n[i + 1, j] = pre_n[i, j] + num[i, j]
            pre_d[i + 1, j] = pre_d[i, j] + den[i, j]
    for i in range(n_t):
        hi = min(n_t, i + half + 1)
        lo = max(0, i - half)
        for j in range(n_f):
            out_n[i, j] = pre_n[hi, j] - pre_n[lo, j]
            out_d[i, j] = pre_d[hi, j] - pre_d[lo, j]


@njit(**JIT_OPTIONS)
def _box_freq(num, den, out_n, out_d, half):
    """Box sums ``Σ_{|k−j| ≤ half}`` along axis 1 of ``num`` and ``den``."""
    n_t, n_f = num.shape
    for i in range(n_t):
        sn = 0.0
        sd = 0.0
        for j in range(min(half, n_f)):
            sn += num[i, j]
            sd += den[i, j]
        for j in range(n_f):
            if j + half < n_f:
                sn += num[i, j + half]
                sd += den[i, j + half]
            if j - half - 1 >= 0:
                sn -= num[i, j - half - 1]
                sd -= den[i, j - half - 1]
            out_n[i, j] = sn
            out_d[i, j] = sd


@njit(**JIT_OPTIONS)
def _smooth_scratch(n_t, n_f):
    return (
        np.empty((n_t, n_f)),
        np.empty((n_t, n_f)),
        np.empty((n_t, n_f)),
        np.empty((n_t, n_f)),
        np.empty((n_t + 1, n_f)),
        np.empty((n_t + 1, n_f)),
    )


@njit(**JIT_OPTIONS)
def _smooth_into(values, flags, sigma_time, sigma_frequency, out, scratch):
    """Masked almost-Gaussian smoothing of ``values`` into ``out``."""
    n_t, n_f = values.shape
    num, den, tn, td, pre_n, pre_d = scratch
    for i in range(n_t):
        for j in range(n_f):
            x = values[i, j]
            if flags[i, j] or not np.isfinite(x):
                num[i, j] = 0.0
                den[i, j] = 0.0
            else:
                num[i, j] = x
                den[i, j] = 1.0
    flip = False  # the current sums are in (tn, td) when flip
    for w in box_widths(sigma_time):
        if w > 1:
            if flip:
                _box_time(tn, td, num, den, pre_n, pre_d, w // 2)
            else:
                _box_time(num, den, tn, td, pre_n, pre_d, w // 2)
            flip = not flip
    for w in box_widths(sigma_frequency):
        if w > 1:
            if flip:
                _box_freq(tn, td, num, den, w // 2)
            else:
                _box_freq(num, den, tn, td, w // 2)
            flip = not flip
    if flip:
        num, den = tn, td
    for i in range(n_t):
        for j in range(n_f):
            # den counts samples (integer-valued sums): 0.5 separates 0 from ≥ 1.
            out[i, j] = num[i, j] / den[i, j] if den[i, j] > 0.5 else 0.0


@njit(**JIT_OPTIONS)
def masked_box_smooth(values, flags, *, sigma_time, sigma_frequency):
    """Almost-Gaussian smoothing of a time–frequency plane, ignoring flagged samples.

    Normalised convolution ``(K * (w x)) / (K * w)`` with ``w = 0`` on flagged
    or non-finite samples; ``K`` is separable, per axis the three boxes of
    :func:`box_widths` applied one after the other, each as a sum over the
    samples inside the plane (numerator and denominator alike, so near an edge
    the weights are those of the truncated passes).

    Parameters
    ----------
    values : numpy.ndarray
        ``(time, frequency)`` float.
    flags : numpy.ndarray
        ``(time, frequency)`` bool.
    sigma_time : float, keyword-only
        Width along time, in samples (0: no smoothing along time).
    sigma_frequency : float, keyword-only
        Width along frequency, in channels.

    Returns
    -------
    numpy.ndarray
        ``(time, frequency)`` float64 background; 0 where the kernel covers no
        unflagged sample.
    """
    n_t, n_f = values.shape
    out = np.empty((n_t, n_f))
    scratch = _smooth_scratch(n_t, n_f)
    _smooth_into(values, flags, sigma_time, sigma_frequency, out, scratch)
    return out


@njit(**JIT_OPTIONS)
def _select(a, n, k):
    """Reorder ``a[:n]`` so that ``a[k]`` is its k-th smallest; return it."""
    lo = 0
    hi = n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        x0, x1, x2 = a[lo], a[mid], a[hi]
        # Median of three as the pivot value (an element of a[lo..hi]).
        if x0 > x1:
            x0, x1 = x1, x0
        if x1 > x2:
            x1 = x2
        x = x1 if x1 > x0 else x0
        i = lo
        j = hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]


@njit(**JIT_OPTIONS)
def median_select(a, n):
    """Median of ``a[:n]`` by selection (reorders ``a[:n]``), as ``numpy.median``.

    Parameters
    ----------
    a : numpy.ndarray
        ``(≥ n,)`` float64, finite; partially reordered in place.
    n : int
        Number of leading elements (> 0).

    Returns
    -------
    float
        The middle value, or the mean of the two middle values for even ``n``.
    """
    k = n // 2
    upper = _select(a, n, k)
    if n % 2 == 1:
        return upper
    lower = a[0]
    for i in range(1, k):
        if a[i] > lower:
            lower = a[i]
    return 0.5 * (lower + upper)


@njit(**JIT_OPTIONS)
def _bin(x, lo, scale, nb):
    b = int((x - lo) * scale)
    return nb - 1 if b >= nb else b


@njit(**JIT_OPTIONS)
def _median_binned(buf, n, lo, hi, counts, tmp):
    """Exact median of ``buf[:n]`` (all in ``[lo, hi]``), as ``numpy.median``.

    Counts the values in ``counts.size`` equal bins, then selects within the
    bin that holds the middle rank only: two passes plus a small selection.
    ``buf`` is not reordered; ``tmp`` (``≥ n``) is scratch.
    """
    if not hi > lo:
        return lo
    nb = counts.size
    scale = nb / (hi - lo)
    for b in range(nb):
        counts[b] = 0
    for i in range(n):
        counts[_bin(buf[i], lo, scale, nb)] += 1
    k = n // 2
    cum = 0
    b = 0
    while cum + counts[b] <= k:
        cum += counts[b]
        b += 1
    # Binning is monotone, so the values of lower bins are all below bin b's.
    m = 0
    for i in range(n):
        x = buf[i]
        if _bin(x, lo, scale, nb) == b:
            tmp[m] = x
            m += 1
    upper = _select(tmp, m, k - cum)
    if n % 2 == 1:
        return upper
    if k - cum == 0:
        # The lower middle value is the largest of the lower bins (rare).
        below = -np.inf
        for i in range(n):
            x = buf[i]
            if _bin(x, lo, scale, nb) < b and x > below:
                below = x
        return 0.5 * (below + upper)
    lower = tmp[0]
    for i in range(1, k - cum):
        if tmp[i] > lower:
            lower = tmp[i]
    return 0.5 * (lower + upper)


@njit(**JIT_OPTIONS)
def robust_sigma(values, flags, buf):
    """Median and ``1.4826 · MAD`` of the unflagged finite samples.

    Parameters
    ----------
    values : numpy.ndarray
        Any shape, float.
    flags : numpy.ndarray
        Same shape, bool.
    buf : numpy.ndarray
        ``(≥ 2 · values.size,)`` float64 scratch.

    Returns
    -------
    tuple of float
        ``(median, σ)``, equal to ``numpy.median`` of the samples and of their
        absolute deviations; both NaN when no sample is usable.
    """
    v = values.ravel()
    f = flags.ravel()
    size = v.size
    data = buf[:size]
    tmp = buf[size : 2 * size]
    counts = np.empty(1024, np.int64)
    n = 0
    lo = np.inf
    hi = -np.inf
    for i in range(size):
        x = v[i]
        if not f[i] and np.isfinite(x):
            data[n] = x
            n += 1
            lo = min(lo, x)
            hi = max(hi, x)
    if n == 0:
        return np.nan, np.nan
    med = _median_binned(data, n, lo, hi, counts, tmp)
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        d = abs(data[i] - med)
        data[i] = d
        lo = min(lo, d)
        hi = max(hi, d)
    return med, _MAD_TO_SIGMA * _median_binned(data, n, lo, hi, counts, tmp)


@njit(**JIT_OPTIONS)
def _row_prefix(res, out, r, ps, pc, row_max):
    """Prefix sums of row ``r``'s unflagged residuals and counts, and their max."""
    n_f = res.shape[1]
    ps[r, 0] = 0.0
    pc[r, 0] = 0.0
    top = -np.inf
    for j in range(n_f):
        keep = not out[r, j]
        x = res[r, j] if keep else 0.0
        ps[r, j + 1] = ps[r, j] + x
        pc[r, j + 1] = pc[r, j] + (1.0 if keep else 0.0)
        if keep and x > top:
            top = x
    row_max[r] = top


@njit(**JIT_OPTIONS)
def _time_prefix(res, out, ps, pc):
    """Prefix sums along time of the unflagged residuals and counts; their max."""
    n_t, n_f = res.shape
    top = -np.inf
    for j in range(n_f):
        ps[0, j] = 0.0
        pc[0, j] = 0.0
    for i in range(n_t):
        for j in range(n_f):
            keep = not out[i, j]
            x = res[i, j] if keep else 0.0
            ps[i + 1, j] = ps[i, j] + x
            pc[i + 1, j] = pc[i, j] + (1.0 if keep else 0.0)
            if keep and x > top:
                top = x
    return top


@njit(**JIT_OPTIONS)
def _freq_pass(res, out, window, chi, ps, pc, row_dirty, row_max, hit):
    """SumThreshold along frequency for every row; True if anything was flagged.

    A window's mean cannot exceed the largest unflagged residual of its row,
    so rows whose maximum is not above ``chi`` are skipped.
    """
    n_t, n_f = res.shape
    changed = False
    for r in range(n_t):
        if row_dirty[r]:
            _row_prefix(res, out, r, ps, pc, row_max)
            row_dirty[r] = False
        if not row_max[r] > chi:
            continue
        n_hit = 0
        for e in range(window, n_f + 1):
            c = pc[r, e] - pc[r, e - window]
            s = ps[r, e] - ps[r, e - window]
            n_hit += (c > 0.0) & (s > chi * c)
        if n_hit == 0:
            continue
        for e in range(window, n_f + 1):
            c = pc[r, e] - pc[r, e - window]
            if c > 0.0 and ps[r, e] - ps[r, e - window] > chi * c:
                hit[e - window] += 1
                hit[e] -= 1
        run = 0
        for j in range(n_f):
            run += hit[j]
            hit[j] = 0
            if run > 0 and not out[r, j]:
                out[r, j] = True
                row_dirty[r] = True
        hit[n_f] = 0
        changed = changed or row_dirty[r]
    return changed


@njit(**JIT_OPTIONS)
def _time_pass(res, out, window, chi, ps, pc, hit, run, row_dirty):
    """SumThreshold along time for every channel; True if anything was flagged."""
    n_t, n_f = res.shape
    n_hit = 0
    for e in range(window, n_t + 1):
        for j in range(n_f):
            c = pc[e, j] - pc[e - window, j]
            s = ps[e, j] - ps[e - window, j]
            n_hit += (c > 0.0) & (s > chi * c)
    if n_hit == 0:
        return False
    for e in range(window, n_t + 1):
        for j in range(n_f):
            c = pc[e, j] - pc[e - window, j]
            if c > 0.0 and ps[e, j] - ps[e - window, j] > chi * c:
                hit[e - window, j] += 1
                hit[e, j] -= 1
    changed = False
    for j in range(n_f):
        run[j] = 0
    for i in range(n_t + 1):
        for j in range(n_f):
            run[j] += hit[i, j]
            hit[i, j] = 0
            if i < n_t and run[j] > 0 and not out[i, j]:
                out[i, j] = True
                row_dirty[i] = True
                changed = True
    return changed


@njit(**JIT_OPTIONS)
def plane_scratch(n_t, n_f):
    """Work arrays of :func:`sumthreshold_plane_into` for planes of this shape."""
    return (
        np.empty((n_t, n_f)),  # residual
        _smooth_scratch(n_t, n_f),
        np.empty(2 * n_t * n_f),  # σ buffer
        np.empty((n_t, n_f + 1)),  # frequency prefix sums
        np.empty((n_t, n_f + 1)),
        np.empty((n_t + 1, n_f)),  # time prefix sums
        np.empty((n_t + 1, n_f)),
        np.zeros(n_f + 1, np.int64),  # run marks (kept zeroed between uses)
        np.zeros((n_t + 1, n_f), np.int64),
        np.zeros(n_f, np.int64),
        np.ones(n_t, np.bool_),  # rows whose prefix sums are stale
        np.empty(n_t),  # largest unflagged residual per row
    )


@njit(**JIT_OPTIONS)
def sumthreshold_plane_into(
    amplitude,
    out,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
    scratch,
):
    """Run iterative SumThreshold on one plane, or-ing detections into ``out``.

    Positional arguments as :func:`dsa110.flagging.kernels.sumthreshold_plane`;
    ``out`` holds the flags on entry; ``scratch`` from :func:`plane_scratch`.
    """
    n_t, n_f = amplitude.shape
    res, smooth, buf, ps_f, pc_f, ps_t, pc_t, hit_f, hit_t, run, row_dirty, row_max = (
        scratch
    )
    for i in range(n_t):
        for j in range(n_f):
            if not np.isfinite(amplitude[i, j]):
                out[i, j] = True
    for it in range(n_iter):
        _smooth_into(amplitude, out, sigma_time, sigma_frequency, res, smooth)
        for i in range(n_t):
            for j in range(n_f):
                res[i, j] = amplitude[i, j] - res[i, j]
        _, sigma = robust_sigma(res, out, buf)
        if not (sigma > 0.0):
            # All flagged, or noise-free: nothing to compare a deviation with.
            break
        factor = threshold_step ** (n_iter - 1 - it)
        row_dirty[:] = True
        time_dirty = True
        time_max = np.inf
        window = 1
        while window <= max_window and (window <= n_t or window <= n_f):
            chi = factor * threshold * sigma / rho ** math.log2(window)
            if window <= n_t:
                if time_dirty:
                    time_max = _time_prefix(res, out, ps_t, pc_t)
                    time_dirty = False
                # No window mean exceeds the plane's largest unflagged residual.
                if time_max > chi and _time_pass(
                    res, out, window, chi, ps_t, pc_t, hit_t, run, row_dirty
                ):
                    time_dirty = True
            if window <= n_f:
                if _freq_pass(
                    res, out, window, chi, ps_f, pc_f, row_dirty, row_max, hit_f
                ):
                    time_dirty = True
            window *= 2


@njit(**JIT_OPTIONS)
def sumthreshold_plane_fast(
    amplitude,
    flags,
    threshold,
    rho,
    max_window,
    n_iter,
    threshold_step,
    sigma_time,
    sigma_frequency,
):
    """Run iterative SumThreshold on one plane (positional; see kernels)."""
    out = flags.copy()
    sumthreshold_plane_into(
        amplitude,
        out,
        threshold,
        rho,
        max_window,
        n_iter,
        threshold_step,
        sigma_time,
        sigma_frequency,
        plane_scratch(*amplitude.shape),
    )
    return out
