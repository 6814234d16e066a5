"""Numba kernels of the variability stage: NumPy arrays in, NumPy arrays out.

The running-metric state of ``n_source`` sources is a struct of arrays: one
``float64`` row per running quantity (``state[FIELD, source]``) plus an ``int64``
count per source. One new measurement updates one column in O(1), so one epoch of
100,000 sources is one pass over the new rows, and the memory does not grow with
the number of epochs.

Numerical stability: every flux is shifted by the first flux seen for its source
(``SHIFT``) before it enters the sums, and the means and second moments are
updated with West's (1979) weighted form of Welford's recurrence. The rounding
error then scales with the spread of the light curve, not with its mean, which is
what lets the incremental metrics equal the two-pass batch formulas to ~1e-12
relative even for faint variations on a bright, large-offset source.
"""

from __future__ import annotations

import numba
import numpy as np

from dsa110._compat.numba import JIT_OPTIONS

__all__ = [
    "STATE_FIELDS",
    "N_STATE_FIELDS",
    "new_state",
    "update_state",
    "adaptive_bin",
]

#: Names of the rows of the float64 state array, in order.
STATE_FIELDS = (
    "shift",  # K: first flux seen (Jy); all moments are of f - K
    "wsum",  # sum of w = 1/sigma^2
    "wmean",  # weighted mean of f - K
    "wm2",  # sum w (f - weighted mean)^2
    "mean",  # unweighted mean of f - K
    "m2",  # sum (f - mean)^2
    "fmax",  # brightest flux (first occurrence)
    "fmax_err",
    "fmin",  # faintest flux (first occurrence)
    "fmin_err",
    "t_new",  # newest measurement (largest time; ties: the later one received)
    "f_new",
    "e_new",
    "t_prev",  # second-newest measurement
    "f_prev",
    "e_prev",
)
N_STATE_FIELDS = len(STATE_FIELDS)
(
    SHIFT,
    WSUM,
    WMEAN,
    WM2,
    MEAN,
    M2,
    FMAX,
    FMAX_ERR,
    FMIN,
    FMIN_ERR,
    T_NEW,
    F_NEW,
    E_NEW,
    T_PREV,
    F_PREV,
    E_PREV,
) = range(N_STATE_FIELDS)


def new_state(n_source):
    """Allocate an empty running-metric state.

    Parameters
    ----------
    n_source : int
        Number of sources.

    Returns
    -------
    counts : numpy.ndarray
        ``(source,)`` int64, zeros: measurements accumulated per source.
    state : numpy.ndarray
        ``(field, source)`` float64, rows named by :data:`STATE_FIELDS`;
        NaN until a source's first measurement.
    """
    counts = np.zeros(n_source, dtype=np.int64)
    state = np.full((N_STATE_FIELDS, n_source), np.nan, dtype=np.float64)
    return counts, state


@numba.njit(**JIT_OPTIONS)
def update_state(index, time, flux, flux_err, counts, state):
    """Add measurements to the running-metric state, in place, O(1) each.

    Parameters
    ----------
    index : numpy.ndarray
        ``(row,)`` int64: column of ``state`` (source) of each measurement.
    time : numpy.ndarray
        ``(row,)`` float64: epoch, MJD.
    flux : numpy.ndarray
        ``(row,)`` float64: (normalised) flux density.
    flux_err : numpy.ndarray
        ``(row,)`` float64: its 1σ error, > 0.
    counts : numpy.ndarray
        ``(source,)`` int64, updated in place.
    state : numpy.ndarray
        ``(field, source)`` float64, updated in place.

    Notes
    -----
    Rows are applied in order, so a source may appear more than once. The
    weighted moments follow West (1979): with ``W' = W + w``,
    ``δ = x − μ``, ``μ' = μ + δ w / W'`` and ``M2' = M2 + w δ (x − μ')``, the
    last written as ``M2 + δ² w W / W'`` (equal, and free of the cancellation
    in ``x − μ'`` when one weight dominates).

    References
    ----------
    West, D. H. D. 1979, Commun. ACM 22, 532.
    """
    for r in range(index.shape[0]):
        s = index[r]
        f = flux[r]
        e = flux_err[r]
        t = time[r]
        w = 1.0 / (e * e)
        n = counts[s]
        if n == 0:
            state[SHIFT, s] = f
            state[WSUM, s] = w
            state[WMEAN, s] = 0.0
            state[WM2, s] = 0.0
            state[MEAN, s] = 0.0
            state[M2, s] = 0.0
            state[FMAX, s] = f
            state[FMAX_ERR, s] = e
            state[FMIN, s] = f
            state[FMIN_ERR, s] = e
            state[T_NEW, s] = t
            state[F_NEW, s] = f
            state[E_NEW, s] = e
            counts[s] = 1
            continue
        x = f - state[SHIFT, s]
        # weighted moments (West 1979)
        wold = state[WSUM, s]
        wsum = wold + w
        delta = x - state[WMEAN, s]
        state[WMEAN, s] += delta * (w / wsum)
        # w δ (x − μ') written as δ² w W/W': no cancellation when w ≫ W
        state[WM2, s] += (w * (wold / wsum)) * delta * delta
        state[WSUM, s] = wsum
        # unweighted moments (Welford 1962), in the same form
        n1 = n + 1
        delta = x - state[MEAN, s]
        state[MEAN, s] += delta / n1
        state[M2, s] += (n / n1) * delta * delta
        counts[s] = n1
        # extremes (first occurrence wins ties, like numpy.argmax)
        if f > state[FMAX, s]:
            state[FMAX, s] = f
            state[FMAX_ERR, s] = e
        if f < state[FMIN, s]:
            state[FMIN, s] = f
            state[FMIN_ERR, s] = e
        # the two newest measurements (a stable sort by time: ties -> later row)
        if n == 1 or t >= state[T_NEW, s]:
            if n == 1 and t < state[T_NEW, s]:
                state[T_PREV, s] = t
                state[F_PREV, s] = f
                state[E_PREV, s] = e
            else:
                state[T_PREV, s] = state[T_NEW, s]
                state[F_PREV, s] = state[F_NEW, s]
                state[E_PREV, s] = state[E_NEW, s]
                state[T_NEW, s] = t
                state[F_NEW, s] = f
                state[E_NEW, s] = e
        elif t >= state[T_PREV, s]:
            state[T_PREV, s] = t
            state[F_PREV, s] = f
            state[E_PREV, s] = e


@numba.njit(**JIT_OPTIONS)
def adaptive_bin(time, flux, flux_err, target_snr, max_epochs):
    """Combine consecutive epochs until each bin reaches a target SNR.

    Parameters
    ----------
    time : numpy.ndarray
        ``(epoch,)`` float64, ascending MJD.
    flux : numpy.ndarray
        ``(epoch,)`` float64 flux density.
    flux_err : numpy.ndarray
        ``(epoch,)`` float64 1σ errors, > 0.
    target_snr : float
        SNR at which a bin closes.
    max_epochs : int
        Most epochs in one bin (0: no limit). Numba has no keyword-only
        arguments; the public wrapper :func:`dsa110.variability.adaptive_bin`
        makes both options keyword-only.

    Returns
    -------
    bin_index : numpy.ndarray
        ``(epoch,)`` int64: the bin of each epoch.
    n_bin : int
        Number of bins.

    Notes
    -----
    A bin closes as soon as the inverse-variance weighted mean over it has
    ``|mean| / err >= target_snr`` with ``err = (Σ 1/σ²)^{-1/2}``, or when it holds
    ``max_epochs`` epochs. A trailing bin that does not reach the target is
    merged into the previous bin when there is one and the merged bin stays
    within ``max_epochs``.
    """
    n = time.shape[0]
    bin_index = np.empty(n, dtype=np.int64)
    b = 0
    sw = 0.0
    swf = 0.0
    count = 0
    start = 0
    prev_count = 0
    last_closed = True
    for i in range(n):
        w = 1.0 / (flux_err[i] * flux_err[i])
        sw += w
        swf += w * flux[i]
        count += 1
        bin_index[i] = b
        last_closed = False
        mean = swf / sw
        if abs(mean) * np.sqrt(sw) >= target_snr or (
            max_epochs > 0 and count >= max_epochs
        ):
            b += 1
            sw = 0.0
            swf = 0.0
            prev_count = count
            count = 0
            start = i + 1
            last_closed = True
    if not last_closed:
        if b > 0 and (max_epochs <= 0 or prev_count + count <= max_epochs):
            for i in range(start, n):
                bin_index[i] = b - 1
        else:
            b += 1
    return bin_index, b
