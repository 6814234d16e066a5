"""Fast Numba kernels for one time–frequency plane: background, σ, SumThreshold.

The plane flagger (:func:`dsa110.flagging.kernels.sumthreshold_plane`) runs,
per iteration, a masked background fit, a robust σ and SumThreshold with windows
``1, 2, 4, …`` along time and frequency. Here each step costs O(1) per sample,
independent of the kernel width and the window:

* the background is a normalised convolution with an *almost-Gaussian* kernel,
  three box filters per axis whose widths match the Gaussian's σ
  (:func:`box_widths`; Kovesi [1]_): running sums along frequency, direct sums
  of the (3 to 5) rows along time. It is fitted on a plane downsampled along
  time by ``D =`` :func:`background_factor` (2 for σ_t = 2.5 integrations:
  sums of the unflagged values and of their count over ``D`` integrations),
  smoothed there (time boxes of :func:`coarse_sigma`, frequency boxes of σ_f)
  and brought back by linear interpolation, the kernel as a whole keeping the
  variance σ_t² of the requested Gaussian. AOFlagger's strategies fit their
  low-pass background on a plane downsampled 3 × 3 in the same way ([2]_,
  ``generic-default.lua``); here only time is downsampled, so that every pass
  over the full plane runs along contiguous channels (vectorised), and the
  running sums along frequency — serial — run on ``n_t / D`` rows only. After
  the first iteration the background along time is a line fitted through each
  window, not its mean (:func:`masked_box_smooth`): a mean lags a drifting
  source's rising or falling amplitude where the window is cut at the tile's
  edges. The first iteration keeps the mean: strong RFI it has not flagged yet
  would tilt a line, and its far end with it (0.24 % of a simulated tile's clean
  samples flagged, 0.04 % with the mean first);
* the median and the MAD come from a selection (counting into bins, then a
  quickselect inside the middle bin), not a sort, over a subsample: every
  :func:`sigma_stride`-th sample (C order; 3 for a 24 × 768 plane, ≥ 4096
  samples kept — σ to ~1.5 %, where the thresholds need far less);
* every SumThreshold window sum is a difference of two prefix sums of the
  unflagged residuals, kept per row (frequency passes) and per plane (time
  passes), so that the passes run along both axes without transposes. After a
  pass flags something, only what it touched is refreshed: the time prefix
  sums of the channels it flagged in (all channels, row by row, when more than
  an eighth are stale), the frequency prefix sums of the rows a frequency pass
  flagged in; a time pass corrects a row's frequency prefix sums in place
  (minus the residual and the count of each newly flagged sample, beyond it)
  for up to four samples and marks the row stale beyond. Rows (or the whole
  plane, along time) whose largest unflagged residual is below ``χ_M`` are
  skipped: no window mean can exceed it. A time pass tests one row of window
  ends at a time, vectorised over channels, into a byte mask, and flags the
  windows found by visiting only the mask's nonzero 8-byte words.

The result of a pass depends only on the flags before it, as in
:func:`dsa110.flagging.kernels.sumthreshold_1d` (same decisions up to the
rounding of the sums). ``tests/flagging/test_plane.py`` checks every step, and
the whole iteration flag for flag, against direct NumPy evaluations.

Notes
-----
Cost, per 24 × 768 plane and one core of the development VM (3 iterations):
≈ 0.65 ms, of which ≈ 0.17 ms background, 0.11 ms σ, 0.11 ms time prefix sums,
0.12 ms time passes, 0.14 ms frequency passes (``benchmarks/RESULTS.d/
flagging.md``); 1.9 ms before the downsampled background, the subsampled σ and
the vectorised passes. Numba indexes ``a[i, j + k]`` with a negative-index
check per element, which keeps LLVM from vectorising such loops: the loops
here index 1-D row views and slices (``a[i]``, ``a[i, k:]``) with the loop
variable itself.

References
----------
.. [1] P. Kovesi, "Fast almost-Gaussian filtering", DICTA 2010.
.. [2] A. R. Offringa, J. J. van de Gronde, J. B. T. M. Roerdink, "A
   morphological algorithm for improving radio-frequency interference
   detection", A&A 539, A95 (2012); AOFlagger 3 strategy
   ``data/strategies/generic-default.lua`` (``aoflagger.downsample``,
   ``low_pass_filter``, ``upsample``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsa110._compat.numba import JIT_OPTIONS

__all__ = [
    "SIGMA_MIN_SAMPLES",
    "box_widths",
    "masked_box_smooth",
    "median_select",
    "robust_sigma",
    "sigma_stride",
]

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
def _box_time(num, den, out_n, out_d, half):
    """Box sums ``Σ_{|k−i| ≤ half}`` along axis 0 of ``num`` and ``den``.

    Each output row is the sum of its ``≤ 2·half + 1`` input rows, added in
    order (the boxes along time are short: 3 or 5 rows), a whole row at a time.
    """
    n_t = num.shape[0]
    for i in range(n_t):
        lo = max(0, i - half)
        hi = min(n_t, i + half + 1)
        on = out_n[i]
        od = out_d[i]
        xn = num[lo]
        xd = den[lo]
        for j in range(on.size):
            on[j] = xn[j]
            od[j] = xd[j]
        for k in range(lo + 1, hi):
            xn = num[k]
            xd = den[k]
            for j in range(on.size):
                on[j] += xn[j]
                od[j] += xd[j]


@njit(**JIT_OPTIONS)
def _box_freq_rows(num, den, out_n, out_d, half, r0, r1):
    """Box sums along axis 1 for rows ``r0`` and ``r1`` (may be equal).

    Running sums ``S(j) = S(j − 1) + x[j + half] − x[j − half − 1]``, the
    terms that fall outside the row left out; in the middle of the row the
    difference is formed first, so each of the four chains (two rows,
    numerator and denominator) has one dependent addition per channel, and the
    four are interleaved to hide its latency. Rows of ``≤ 2·half + 1``
    channels are summed directly.
    """
    n_f = num.shape[1]
    w = 2 * half + 1
    if n_f <= w:
        for r in (r0, r1):
            for j in range(n_f):
                sn = 0.0
                sd = 0.0
                for k in range(max(0, j - half), min(n_f, j + half + 1)):
                    sn += num[r, k]
                    sd += den[r, k]
                out_n[r, j] = sn
                out_d[r, j] = sd
        return
    an = num[r0]
    ad = den[r0]
    bn = num[r1]
    bd = den[r1]
    a_n = 0.0
    a_d = 0.0
    b_n = 0.0
    b_d = 0.0
    # Head: j = 0 … half, windows [0, j + half].
    for k in range(half):
        a_n += an[k]
        a_d += ad[k]
        b_n += bn[k]
        b_d += bd[k]
    for j in range(half + 1):
        a_n += an[j + half]
        a_d += ad[j + half]
        b_n += bn[j + half]
        b_d += bd[j + half]
        out_n[r0, j] = a_n
        out_d[r0, j] = a_d
        out_n[r1, j] = b_n
        out_d[r1, j] = b_d
    # Middle: j = half + 1 … n_f − half − 1, as slices (k = j − half − 1).
    m = n_f - w
    an_in = an[w:]
    ad_in = ad[w:]
    bn_in = bn[w:]
    bd_in = bd[w:]
    oan = out_n[r0, half + 1 :]
    oad = out_d[r0, half + 1 :]
    obn = out_n[r1, half + 1 :]
    obd = out_d[r1, half + 1 :]
    for k in range(m):
        a_n += an_in[k] - an[k]
        a_d += ad_in[k] - ad[k]
        b_n += bn_in[k] - bn[k]
        b_d += bd_in[k] - bd[k]
        oan[k] = a_n
        oad[k] = a_d
        obn[k] = b_n
        obd[k] = b_d
    # Tail: j = n_f − half … n_f − 1, windows [j − half, n_f − 1].
    for j in range(n_f - half, n_f):
        a_n -= an[j - half - 1]
        a_d -= ad[j - half - 1]
        b_n -= bn[j - half - 1]
        b_d -= bd[j - half - 1]
        out_n[r0, j] = a_n
        out_d[r0, j] = a_d
        out_n[r1, j] = b_n
        out_d[r1, j] = b_d


@njit(**JIT_OPTIONS)
def _box_freq(num, den, out_n, out_d, half):
    """Box sums ``Σ_{|k−j| ≤ half}`` along axis 1 of ``num`` and ``den``."""
    n_t = num.shape[0]
    for i in range(0, n_t - 1, 2):
        _box_freq_rows(num, den, out_n, out_d, half, i, i + 1)
    if n_t % 2 == 1:
        _box_freq_rows(num, den, out_n, out_d, half, n_t - 1, n_t - 1)


@njit(**JIT_OPTIONS)
def background_factor(sigma_time):
    """Integrations per coarse bin of the background fit: ``max(1, ⌊σ_t / 1.25⌋)``.

    Parameters
    ----------
    sigma_time : float
        Background width along time, in integrations.

    Returns
    -------
    int
        ``D ≥ 1`` (2 for σ_t = 2.5); 1: the fit runs on the integrations
        themselves.
    """
    if not sigma_time >= 2.5:
        return 1
    return int(sigma_time / 1.25)


@njit(**JIT_OPTIONS)
def coarse_sigma(sigma_time, factor):
    """Gaussian σ, in coarse bins, of the time boxes run on the downsampled plane.

    Chosen so that the whole time kernel — sum over ``D = factor``
    integrations (variance ``(D² − 1)/12``), the boxes (``D² σ_c²``) and
    linear interpolation back (``≈ D²/6``, averaged over the phases) — has
    the variance ``σ_t²`` of the requested Gaussian (exactly, for σ_t = 2.5
    and D = 2: boxes 1, 3, 3).

    Parameters
    ----------
    sigma_time : float
        ``σ_t`` in integrations.
    factor : int
        ``D`` from :func:`background_factor`.

    Returns
    -------
    float
        ``σ_c`` (``σ_t`` itself when ``D = 1``).
    """
    if factor <= 1:
        return sigma_time
    d2 = float(factor * factor)
    var = sigma_time * sigma_time - (d2 - 1.0) / 12.0 - d2 / 6.0
    return math.sqrt(max(var, 0.0)) / factor


@njit(**JIT_OPTIONS)
def _smooth_scratch(n_t, n_f):
    # the coarse plane's time moments, three to an array (see _smooth_into),
    # and their box sums; then the frequency boxes' numerator and denominator
    return (
        np.empty(3 * n_t * n_f),
        np.empty(3 * n_t * n_f),
        np.empty(3 * n_t * n_f),
        np.empty(3 * n_t * n_f),
    )


@njit(**JIT_OPTIONS)
def _time_moments(values, flags, factor, a, b):
    """Sum, per ``factor`` rows, the moments a line fit along time needs.

    Over the unflagged finite samples of each coarse bin, with ``t`` a
    sample's time in coarse bins from the plane's middle (bin ``k``'s centre
    ``k − (n_g − 1)/2``): ``a = (Σx, Σtx, Σt²)`` and ``b = (Σ1, Σt, 0)``; only
    the first of each when ``a`` has one slot (a constant's fit).
    """
    n_t, n_f = values.shape
    n_g = a.shape[0]
    line = a.shape[1] > 1
    middle = 0.5 * (n_g - 1) + 0.5 * (factor - 1) / factor
    a[:] = 0.0
    b[:] = 0.0
    for i in range(n_t):
        t = i / factor - middle
        ak = a[i // factor]
        bk = b[i // factor]
        x_i = values[i]
        f_i = flags[i]
        for j in range(n_f):
            x = x_i[j]
            # ``abs(x) < inf`` is False for NaN and ±Inf (isfinite).
            keep = not f_i[j] and abs(x) < np.inf
            ak[0, j] += x if keep else 0.0
            bk[0, j] += 1.0 if keep else 0.0
        if line:
            for j in range(n_f):
                x = x_i[j]
                keep = not f_i[j] and abs(x) < np.inf
                ak[1, j] += t * x if keep else 0.0
                ak[2, j] += t * t if keep else 0.0
                bk[1, j] += t if keep else 0.0


@njit(**JIT_OPTIONS)
def _fit_lines(a, b, num, den):
    """Each coarse bin's value on the weighted line fitted to its time window.

    ``a``, ``b``: :func:`_time_moments` summed over the window. Writes ``num =
    Σw · v`` and ``den = Σw`` for the frequency boxes, ``v`` the line at the
    bin, or the window's mean where its samples span less than a bin's spread
    or ``a`` has one slot (a constant's fit).
    """
    n_g, slots, n_f = a.shape
    middle = 0.5 * (n_g - 1)
    for k in range(n_g):
        c = k - middle
        ak = a[k]
        bk = b[k]
        nk = num[k]
        dk = den[k]
        for j in range(n_f):
            s0 = bk[0, j]
            if not s0 > 0.0:
                nk[j] = 0.0
                dk[j] = 0.0
                continue
            v = ak[0, j] / s0
            if slots > 1:
                mean_c = bk[1, j] / s0
                spread = ak[2, j] / s0 - mean_c * mean_c
                if spread > 1e-6:
                    slope = (ak[1, j] / s0 - mean_c * v) / spread
                    v += slope * (c - mean_c)
            nk[j] = s0 * v
            dk[j] = s0


@njit(**JIT_OPTIONS)
def _upsample_divide(num, den, factor, out):
    """``out`` = the ratio ``num / den`` interpolated back on the rows.

    Linear interpolation of the coarse bins' ratios between their centres
    ``k·D + (D − 1)/2`` (of the one with weight where the other has none; 0
    where neither has); beyond the first and last centre, extrapolation along
    the line through the two nearest.
    """
    n_t, n_f = out.shape
    n_g = num.shape[0]
    half = 0.5 * (factor - 1)
    for i in range(n_t):
        u = (i - half) / factor
        if n_g == 1:
            k0, k1, alpha = 0, 0, 0.0
        elif u < 0.0:
            k0, k1, alpha = 0, 1, u  # alpha < 0: extrapolated
        else:
            k0 = min(int(math.floor(u)), n_g - 2)
            k1 = k0 + 1
            alpha = u - k0  # > 1 beyond the last centre: extrapolated
        n0 = num[k0]
        n1 = num[k1]
        d0 = den[k0]
        d1 = den[k1]
        o = out[i]
        for j in range(n_f):
            if d0[j] > 0.0 and d1[j] > 0.0:
                r0 = n0[j] / d0[j]
                o[j] = r0 + alpha * (n1[j] / d1[j] - r0)
            elif d0[j] > 0.0:
                o[j] = n0[j] / d0[j]
            elif d1[j] > 0.0:
                o[j] = n1[j] / d1[j]
            else:
                o[j] = 0.0


@njit(**JIT_OPTIONS)
def _smooth_into(values, flags, sigma_time, sigma_frequency, linear, out, scratch):
    """Smooth ``values`` into ``out``: :func:`masked_box_smooth`.

    ``linear``: lines fitted along time, else constants.
    """
    n_t, n_f = values.shape
    factor = background_factor(sigma_time)
    n_g = (n_t + factor - 1) // factor
    size = n_g * n_f
    f1, f2, f3, f4 = scratch
    # along time: the moments of a line (or a constant) fit, box-summed
    slots = 3 if linear else 1
    a = f1[: slots * size].reshape((n_g, slots, n_f))
    b = f2[: slots * size].reshape((n_g, slots, n_f))
    ta = f3[: slots * size].reshape((n_g, slots, n_f))
    tb = f4[: slots * size].reshape((n_g, slots, n_f))
    _time_moments(values, flags, factor, a, b)
    flip = False  # the current sums are in (ta, tb) when flip
    for w in box_widths(coarse_sigma(sigma_time, factor)):
        if w > 1:
            src_a, src_b = (ta, tb) if flip else (a, b)
            dst_a, dst_b = (a, b) if flip else (ta, tb)
            _box_time(
                src_a.reshape((n_g, slots * n_f)),
                src_b.reshape((n_g, slots * n_f)),
                dst_a.reshape((n_g, slots * n_f)),
                dst_b.reshape((n_g, slots * n_f)),
                w // 2,
            )
            flip = not flip
    # the line's value at each bin, into the pair the sums are not in; then
    # along frequency, that pair and the other in turn
    sums_a, sums_b = (ta, tb) if flip else (a, b)
    free_n, free_d = (f1, f2) if flip else (f3, f4)
    used_n, used_d = (f3, f4) if flip else (f1, f2)
    num = free_n[:size].reshape((n_g, n_f))
    den = free_d[:size].reshape((n_g, n_f))
    tn = used_n[:size].reshape((n_g, n_f))
    td = used_d[:size].reshape((n_g, n_f))
    _fit_lines(sums_a, sums_b, num, den)
    flip = False
    for w in box_widths(sigma_frequency):
        if w > 1:
            if flip:
                _box_freq(tn, td, num, den, w // 2)
            else:
                _box_freq(num, den, tn, td, w // 2)
            flip = not flip
    if flip:
        num, den = tn, td
    _upsample_divide(num, den, factor, out)


@njit(**JIT_OPTIONS)
def masked_box_smooth(values, flags, *, sigma_time, sigma_frequency, linear):
    """Almost-Gaussian smoothing of a time–frequency plane, ignoring flagged samples.

    A normalised convolution ``(K * (w x)) / (K * w)`` with ``w = 0`` on
    flagged or non-finite samples, ``K`` separable: the sum over each group
    of ``D =`` :func:`background_factor` integrations (the last group may be
    shorter), on those coarse rows the three boxes of
    ``box_widths(coarse_sigma(σ_t, D))`` along time and then those of
    ``box_widths(σ_f)`` along frequency, each box a sum over the samples
    inside the plane (so near an edge the weights are those of the truncated
    passes), and the coarse rows' ratios interpolated linearly back to each
    integration between the bin centres ``k·D + (D − 1)/2`` (extrapolated
    along the last two beyond the first and last).

    With ``linear``, each coarse row's value along time is not the weighted
    mean of its window but the weighted least-squares line through the
    window's samples (at their own times), at the row: the same in the middle
    of an evenly weighted window, but at the plane's edges, where the window
    is cut, a mean lags any trend. A source drifting through the beam makes
    such trends (its amplitude rises or falls by ~0.1–0.4 σ per integration
    for a 15–30 Jy source 1° from the meridian): the mean left the last of a
    noiseless ramp 0…23 at 2.1 above its background, and SumThreshold flagged
    up to all of a tile's last integrations (8 % of the plane for 0.4 σ per
    integration); the line leaves nothing. The frequency boxes then average
    the rows' values with the weights ``Σw`` of their windows.

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
    linear : bool, keyword-only
        Fit lines along time (else constants: the plain normalised convolution).

    Returns
    -------
    numpy.ndarray
        ``(time, frequency)`` float64 background; 0 where the kernel covers no
        unflagged sample.

    Notes
    -----
    About 4 full-plane passes plus the boxes on ``n_t / D`` rows: ≈ 0.08 ms
    for 24 × 768 (0.2 ms with all boxes on the full plane, 1.1 ms with a
    truncated Gaussian); the lines' moments about 0.1 ms more.
    """
    n_t, n_f = values.shape
    out = np.empty((n_t, n_f))
    scratch = _smooth_scratch(n_t, n_f)
    _smooth_into(values, flags, sigma_time, sigma_frequency, linear, out, scratch)
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


#: Fewest samples :func:`sigma_stride` keeps for the σ of a plane.
SIGMA_MIN_SAMPLES = 4096


@njit(**JIT_OPTIONS)
def sigma_stride(size):
    """Stride of the subsample that :func:`sumthreshold_plane_into` takes σ from.

    The largest odd ``k`` with ``size // k ≥`` :data:`SIGMA_MIN_SAMPLES` (1
    for planes up to twice that size). Odd, so that on planes with an even
    number of channels the subsample runs diagonally across the channels
    instead of down the same columns.

    Parameters
    ----------
    size : int
        Samples in the plane.

    Returns
    -------
    int
        ``≥ 1``.
    """
    k = size // SIGMA_MIN_SAMPLES
    if k % 2 == 0:
        k -= 1
    return max(k, 1)


@njit(**JIT_OPTIONS)
def robust_sigma(values, flags, buf, stride=1):
    """Median and ``1.4826 · MAD`` of the unflagged finite samples.

    Parameters
    ----------
    values : numpy.ndarray
        Any shape, float.
    flags : numpy.ndarray
        Same shape, bool.
    buf : numpy.ndarray
        ``(≥ 2 · values.size,)`` float64 scratch.
    stride : int, optional
        Use only the samples at flat (C-order) indices ``0, stride, 2·stride,
        …``; 1 (default): all of them.

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
    for i in range(0, size, stride):
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


#: A time pass updates a row's frequency prefix sums in place for up to this
#: many newly flagged samples; beyond, the row is recomputed.
_SUFFIX_UPDATES = 4


@njit(**JIT_OPTIONS)
def _row_prefix(res, out, r, ps, pc, row_max):
    """Prefix sums of row ``r``'s unflagged residuals and counts, and a bound.

    ``row_max[r]`` is the largest unflagged residual, or 0 when that is
    negative (the thresholds it is compared with are positive).
    """
    # 1-D row views: Numba indexes them without per-element 2-D arithmetic
    # and negative-index checks (3x faster here).
    x_r = res[r]
    o_r = out[r]
    p_r = ps[r]
    q_r = pc[r]
    s = 0.0
    c = 0.0
    top = 0.0
    p_r[0] = 0.0
    q_r[0] = 0.0
    for j in range(x_r.size):
        keep = not o_r[j]
        x = x_r[j] if keep else 0.0
        s += x
        c += 1.0 if keep else 0.0
        p_r[j + 1] = s
        q_r[j + 1] = c
        top = max(top, x)
    row_max[r] = top


@njit(**JIT_OPTIONS)
def _time_prefix(res, out, ps, pc, col_max, col_dirty):
    """Refresh the prefix sums along time of the channels marked in ``col_dirty``.

    Prefix sums of the unflagged residuals and counts, and per channel the
    largest unflagged residual (0 when negative). When many channels are
    stale all are recomputed, row by row (vectorised over channels); else
    channel by channel. Returns the largest residual of the plane.
    """
    n_t, n_f = res.shape
    n_dirty = 0
    for j in range(n_f):
        n_dirty += col_dirty[j]
    if 8 * n_dirty > n_f:
        for j in range(n_f):
            ps[0, j] = 0.0
            pc[0, j] = 0.0
            col_max[j] = 0.0
            col_dirty[j] = False
        for i in range(n_t):
            for j in range(n_f):
                keep = not out[i, j]
                x = res[i, j] if keep else 0.0
                ps[i + 1, j] = ps[i, j] + x
                pc[i + 1, j] = pc[i, j] + (1.0 if keep else 0.0)
                col_max[j] = max(col_max[j], x)
    elif n_dirty > 0:
        for j in range(n_f):
            if not col_dirty[j]:
                continue
            col_dirty[j] = False
            s = 0.0
            c = 0.0
            top = 0.0
            for i in range(n_t):
                keep = not out[i, j]
                x = res[i, j] if keep else 0.0
                s += x
                c += 1.0 if keep else 0.0
                ps[i + 1, j] = s
                pc[i + 1, j] = c
                top = max(top, x)
            col_max[j] = top
    top = 0.0
    for j in range(n_f):
        top = max(top, col_max[j])
    return top


@njit(**JIT_OPTIONS)
def _freq_pass(res, out, window, chi, ps, pc, row_dirty, row_max, hit, col_dirty):
    """SumThreshold along frequency for every row; mark what it flags.

    A window's mean cannot exceed the largest unflagged residual of its row,
    so rows whose bound is not above ``chi`` are skipped. A row that gets new
    flags is marked in ``row_dirty`` (its prefix sums are recomputed before
    the next pass) and their channels in ``col_dirty``.
    """
    n_t, n_f = res.shape
    for r in range(n_t):
        if row_dirty[r]:
            _row_prefix(res, out, r, ps, pc, row_max)
            row_dirty[r] = False
        if not row_max[r] > chi:
            continue
        # Windows [k, k + window) as slices: plain indices keep the loop
        # vectorised (``e - window`` would need Numba's negative-index check).
        s_lo = ps[r, : n_f + 1 - window]
        c_lo = pc[r, : n_f + 1 - window]
        s_hi = ps[r, window:]
        c_hi = pc[r, window:]
        n_hit = 0
        for k in range(s_lo.size):
            c = c_hi[k] - c_lo[k]
            n_hit += (c > 0.0) & (s_hi[k] - s_lo[k] > chi * c)
        if n_hit == 0:
            continue
        for k in range(s_lo.size):
            c = c_hi[k] - c_lo[k]
            if c > 0.0 and s_hi[k] - s_lo[k] > chi * c:
                hit[k] += 1
                hit[k + window] -= 1
        run = 0
        for j in range(n_f):
            run += hit[j]
            hit[j] = 0
            if run > 0 and not out[r, j]:
                out[r, j] = True
                row_dirty[r] = True
                col_dirty[j] = True
        hit[n_f] = 0


@njit(**JIT_OPTIONS)
def _time_pass(res, out, window, chi, ps, pc, ps_f, pc_f, row, col_dirty):
    """SumThreshold along time for every channel; mark what it flags.

    ``row = (row_dirty, n_updates, hit_mask)``. Each newly flagged sample marks its
    channel in ``col_dirty``; in its row, the frequency prefix sums beyond it
    are corrected in place (minus its residual and its count) for the first
    :data:`_SUFFIX_UPDATES` samples, after which the row is marked stale.
    Windows are tested a row of end points at a time (vectorised over
    channels); the samples of each window found are flagged directly.
    """
    row_dirty, n_updates, hit_mask = row
    n_t, n_f = res.shape
    for i in range(n_t):
        n_updates[i] = 0
    # The mask in 8-byte words: a row's hits are found a word at a time.
    words = hit_mask[: 8 * (n_f // 8)].view(np.uint64)
    for e in range(window, n_t + 1):
        s_hi = ps[e]
        s_lo = ps[e - window]
        c_hi = pc[e]
        c_lo = pc[e - window]
        n_hit = 0
        for j in range(n_f):
            c = c_hi[j] - c_lo[j]
            h = (c > 0.0) & (s_hi[j] - s_lo[j] > chi * c)
            hit_mask[j] = h
            n_hit += h
        if n_hit == 0:
            continue
        for q in range(words.size + 1):
            if q < words.size and words[q] == 0:
                continue
            for j in range(8 * q, min(8 * q + 8, n_f)):
                if not hit_mask[j]:
                    continue
                for i in range(e - window, e):
                    if out[i, j]:
                        continue
                    out[i, j] = True
                    col_dirty[j] = True
                    if row_dirty[i]:
                        continue
                    if n_updates[i] < _SUFFIX_UPDATES:
                        n_updates[i] += 1
                        x = res[i, j]
                        p_i = ps_f[i, j + 1 :]
                        q_i = pc_f[i, j + 1 :]
                        for k in range(p_i.size):
                            p_i[k] -= x
                            q_i[k] -= 1.0
                    else:
                        row_dirty[i] = True


@njit(**JIT_OPTIONS)
def _count(flags):
    """Count the True values of a 2-D bool array."""
    n = 0
    for i in range(flags.shape[0]):
        f_i = flags[i]
        for j in range(f_i.size):
            n += f_i[j]
    return n


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
        np.ones(n_t, np.bool_),  # rows whose prefix sums are stale
        np.zeros(n_t, np.int64),  # in-place updates per row
        np.empty(n_t),  # largest unflagged residual per row
        np.empty(n_f),  # largest unflagged residual per channel
        np.ones(n_f, np.bool_),  # channels whose prefix sums are stale
        np.zeros(n_f, np.uint8),  # windows found, per channel (time passes)
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
    (
        res,
        smooth,
        buf,
        ps_f,
        pc_f,
        ps_t,
        pc_t,
        hit_f,
        row_dirty,
        n_updates,
        row_max,
        col_max,
        col_dirty,
        hit_mask,
    ) = scratch
    for i in range(n_t):
        for j in range(n_f):
            if not np.isfinite(amplitude[i, j]):
                out[i, j] = True
    sigma = np.nan
    n_flagged = -1
    for it in range(n_iter):
        # the first background a constant in time, the later ones lines (see
        # masked_box_smooth): strong RFI not yet flagged tilts a line
        linear = it > 0
        if _count(out) != n_flagged or it == 1:
            _smooth_into(
                amplitude, out, sigma_time, sigma_frequency, linear, res, smooth
            )
            for i in range(n_t):
                for j in range(n_f):
                    res[i, j] = amplitude[i, j] - res[i, j]
            _, sigma = robust_sigma(res, out, buf, sigma_stride(n_t * n_f))
            if not (sigma > 0.0):
                # All flagged, or noise-free: nothing to compare a deviation with.
                break
            # A new residual: every prefix sum is stale.
            row_dirty[:] = True
            col_dirty[:] = True
            n_flagged = _count(out)
        # else: the last iteration flagged nothing, so the background, the
        # residual, σ and the prefix sums (all fresh) are those it had.
        factor = threshold_step ** (n_iter - 1 - it)
        window = 1
        while window <= max_window and (window <= n_t or window <= n_f):
            chi = factor * threshold * sigma / rho ** math.log2(window)
            if window <= n_t:
                time_max = _time_prefix(res, out, ps_t, pc_t, col_max, col_dirty)
                # No window mean exceeds the plane's largest unflagged residual.
                if time_max > chi:
                    _time_pass(
                        res,
                        out,
                        window,
                        chi,
                        ps_t,
                        pc_t,
                        ps_f,
                        pc_f,
                        (row_dirty, n_updates, hit_mask),
                        col_dirty,
                    )
            if window <= n_f:
                _freq_pass(
                    res,
                    out,
                    window,
                    chi,
                    ps_f,
                    pc_f,
                    row_dirty,
                    row_max,
                    hit_f,
                    col_dirty,
                )
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
