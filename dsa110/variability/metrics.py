"""Variability metrics: incremental (O(1) per measurement) and batch.

Definitions (Mooley et al. 2016; Murphy et al. 2021 for VAST), for the ``N``
measurements ``f_i ± σ_i`` of one source, ``w_i = 1/σ_i²``:

* weighted mean ``f̄_w = Σ w f / Σ w``;
* η = N/(N−1) (⟨w f²⟩ − ⟨w f⟩²/⟨w⟩), where ⟨·⟩ is the mean over epochs. The
  bracket equals (1/N) Σ w (f − f̄_w)², so η = Σ w (f − f̄_w)² / (N − 1);
* χ²ν = Σ (f − f̄_w)²/σ² / (N − 1). With these two definitions η and χ²ν are the
  same number (Mooley's η is the reduced χ² about the weighted mean); both are
  reported because the ESE presets threshold them separately;
* V = s / f̄, with f̄ the unweighted mean and s the sample standard deviation
  (``ddof=1``);
* σ-deviation = max_i |f_i − f̄| / s (unweighted mean, ``ddof=1``). Because the
  maximum of |f − f̄| over epochs is attained at the brightest or the faintest
  epoch, max_i |f_i − f̄| = max(f_max − f̄, f̄ − f_min); tracking the running
  extremes makes it O(1) per update although f̄ changes with every epoch;
* two-epoch Vs = Δf / sqrt(σ₁² + σ₂²) and m = 2 Δf / (f₁ + f₂), with Δf = f₂ − f₁
  (later minus earlier) for the **newest pair** (the two latest epochs), and
  Δf = f_max − f_min for the **extreme pair** (the brightest and the faintest
  epochs). For positive fluxes the extreme pair maximises |m| and |Δf| over all
  pairs; the maximum of |Vs| over all N(N−1)/2 pairs (what VAST stores) cannot be
  updated in O(1) and is not computed.

Metrics of sources with fewer than two measurements are NaN.

The batch functions here evaluate the same quantities in two passes from the
whole light curve; they are the reference the incremental state is tested
against (to 1e-12 relative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.errors import DSA110Error, FileFormatError
from dsa110.variability import kernels

__all__ = [
    "METRIC_NAMES",
    "MetricState",
    "StateError",
    "batch_metrics",
    "metrics_from_state",
]

#: Columns of a metrics table, in order.
METRIC_NAMES = (
    "n",
    "mean_flux",
    "weighted_mean_flux",
    "std_flux",
    "eta",
    "v",
    "chi2_nu",
    "sigma_dev",
    "vs_newest",
    "m_newest",
    "vs_extreme",
    "m_extreme",
)


class StateError(DSA110Error, ValueError):
    """A metric state is inconsistent with what is asked of it."""


def metrics_from_state(counts, state):
    """Evaluate the metrics of every source from a running state.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(source,)`` int64 measurement counts.
    state : numpy.ndarray
        ``(field, source)`` float64, rows :data:`kernels.STATE_FIELDS`.

    Returns
    -------
    dict of str to numpy.ndarray
        One ``(source,)`` array per name in :data:`METRIC_NAMES` (``n`` int64,
        the others float64, NaN where ``n < 2``).
    """
    k = kernels
    n = counts.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = np.where(counts >= 2, n - 1.0, np.nan)
        shift = state[k.SHIFT]
        mean_s = state[k.MEAN]
        std = np.sqrt(state[k.M2] / dof)
        mean_flux = shift + mean_s
        red = state[k.WM2] / dof
        dev = np.maximum(
            (state[k.FMAX] - shift) - mean_s, mean_s - (state[k.FMIN] - shift)
        )
        d_new = state[k.F_NEW] - state[k.F_PREV]
        d_ext = state[k.FMAX] - state[k.FMIN]
        out = {
            "n": counts.copy(),
            "mean_flux": np.where(counts >= 1, mean_flux, np.nan),
            "weighted_mean_flux": np.where(counts >= 1, shift + state[k.WMEAN], np.nan),
            "std_flux": std,
            "eta": red,
            "v": std / mean_flux,
            "chi2_nu": red.copy(),
            "sigma_dev": dev / std,
            "vs_newest": d_new / np.hypot(state[k.E_NEW], state[k.E_PREV]),
            "m_newest": 2.0 * d_new / (state[k.F_NEW] + state[k.F_PREV]),
            "vs_extreme": d_ext / np.hypot(state[k.FMAX_ERR], state[k.FMIN_ERR]),
            "m_extreme": 2.0 * d_ext / (state[k.FMAX] + state[k.FMIN]),
        }
    few = counts < 2
    for name in METRIC_NAMES[3:]:
        out[name][few] = np.nan
    return out


def batch_metrics(time, flux, flux_err):
    """Metrics of one light curve from all its measurements (two-pass).

    Parameters
    ----------
    time : numpy.ndarray
        ``(epoch,)`` float64 MJD, any order.
    flux : numpy.ndarray
        ``(epoch,)`` float64 flux density.
    flux_err : numpy.ndarray
        ``(epoch,)`` float64 1σ errors, > 0.

    Returns
    -------
    dict of str to float
        The quantities of :data:`METRIC_NAMES` (NaN where undefined).

    Notes
    -----
    Fluxes are shifted by the first one before summing, and the second moments
    are summed about the mean in a second pass, as in the incremental state.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return _batch_metrics(time, flux, flux_err)


def _batch_metrics(time, flux, flux_err):
    time = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    e = np.asarray(flux_err, dtype=np.float64)
    n = f.shape[0]
    out = dict.fromkeys(METRIC_NAMES, np.nan)
    out["n"] = n
    if n == 0:
        return out
    k = f[0]
    x = f - k
    w = 1.0 / (e * e)
    wmean = np.sum(w * x) / np.sum(w)
    mean = np.sum(x) / n
    out["mean_flux"] = k + mean
    out["weighted_mean_flux"] = k + wmean
    if n < 2:
        return out
    wm2 = np.sum(w * (x - wmean) ** 2)
    std = np.sqrt(np.sum((x - mean) ** 2) / (n - 1))
    out["std_flux"] = std
    out["eta"] = wm2 / (n - 1)
    out["chi2_nu"] = np.sum((x - wmean) ** 2 / (e * e)) / (n - 1)
    out["v"] = std / (k + mean)
    out["sigma_dev"] = np.max(np.abs(x - mean)) / std
    order = np.argsort(time, kind="stable")
    i1, i2 = order[-2], order[-1]
    out["vs_newest"] = (f[i2] - f[i1]) / np.hypot(e[i2], e[i1])
    out["m_newest"] = 2.0 * (f[i2] - f[i1]) / (f[i2] + f[i1])
    imax, imin = int(np.argmax(f)), int(np.argmin(f))
    out["vs_extreme"] = (f[imax] - f[imin]) / np.hypot(e[imax], e[imin])
    out["m_extreme"] = 2.0 * (f[imax] - f[imin]) / (f[imax] + f[imin])
    return out


class MetricState:
    """Running variability metrics of a growing set of sources.

    The state of ``n_source`` sources is a struct of NumPy arrays (see
    :mod:`dsa110.variability.kernels`); :meth:`update` adds one epoch (or any
    batch of measurements) in O(1) per measurement and memory independent of the
    number of epochs. Sources are identified by their ``source_id`` and get a
    column on first sight.

    Parameters
    ----------
    source_ids : array-like, optional
        ``(source,)`` identifiers to pre-allocate.
    """

    def __init__(self, source_ids=None):
        ids = [] if source_ids is None else list(source_ids)
        if len(set(ids)) != len(ids):
            raise StateError("source_ids are not unique")
        self._ids = ids
        self._lookup = None  # cached pandas.Index of self._ids
        self.counts, self.state = kernels.new_state(max(len(ids), 16))

    @property
    def source_ids(self):
        """list: identifiers of the sources held, in column order."""
        return list(self._ids)

    @property
    def n_source(self) -> int:
        """int: number of sources held."""
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """int: bytes held by the state arrays (independent of epoch count)."""
        return int(self.counts.nbytes + self.state.nbytes)

    def _columns(self, source_id):
        """Map identifiers to columns, adding new sources (vectorised)."""
        ids = pd.Index(np.asarray(source_id))
        if self._lookup is None:
            self._lookup = pd.Index(
                self._ids, dtype=ids.dtype if not self._ids else None
            )
        cols = self._lookup.get_indexer(ids)
        new = ids[cols < 0].unique()
        if len(new):
            self._ids.extend(new.tolist())
            self._grow(len(self._ids))
            self._lookup = pd.Index(self._ids)
            cols = self._lookup.get_indexer(ids)
        return cols.astype(np.int64)

    def _grow(self, n):
        cap = self.counts.shape[0]
        if n <= cap:
            return
        cap = max(n, 2 * cap)
        counts, state = kernels.new_state(cap)
        counts[: self.counts.shape[0]] = self.counts
        state[:, : self.state.shape[1]] = self.state
        self.counts, self.state = counts, state

    def update(self, source_id, time, flux, flux_err, *, columns=None):
        """Add measurements (e.g. one epoch of every source) to the state.

        Parameters
        ----------
        source_id : array-like
            ``(row,)`` source identifiers.
        time : array-like
            ``(row,)`` float64 MJD.
        flux : array-like
            ``(row,)`` float64 (normalised) flux density.
        flux_err : array-like
            ``(row,)`` float64 1σ errors, > 0 and finite.
        columns : numpy.ndarray, keyword-only, optional
            ``(row,)`` int64 state columns of the rows, when the caller already
            knows them (:meth:`columns_of`); skips the identifier look-up.

        Raises
        ------
        StateError
            When the arrays differ in length or an error is not positive and
            finite, or a flux is not finite.
        """
        time = np.ascontiguousarray(time, dtype=np.float64)
        flux = np.ascontiguousarray(flux, dtype=np.float64)
        flux_err = np.ascontiguousarray(flux_err, dtype=np.float64)
        if not (time.shape == flux.shape == flux_err.shape) or time.ndim != 1:
            raise StateError("time, flux and flux_err must be 1-D and equally long")
        if not np.all(np.isfinite(flux)):
            raise StateError("flux has non-finite values")
        if not np.all(np.isfinite(flux_err) & (flux_err > 0)):
            raise StateError("flux_err must be positive and finite")
        cols = self._columns(source_id) if columns is None else columns
        if cols.shape != time.shape:
            raise StateError("source_id must be as long as time")
        kernels.update_state(
            np.ascontiguousarray(cols, dtype=np.int64),
            time,
            flux,
            flux_err,
            self.counts,
            self.state,
        )

    def columns_of(self, source_id):
        """Return the state columns of ``source_id``, adding unknown sources.

        Parameters
        ----------
        source_id : array-like
            ``(row,)`` identifiers.

        Returns
        -------
        numpy.ndarray
            ``(row,)`` int64 columns.
        """
        return self._columns(source_id)

    def metrics(self) -> pd.DataFrame:
        """Return the metrics of every source.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``source_id``, one column per name in
            :data:`METRIC_NAMES`.
        """
        n = self.n_source
        values = metrics_from_state(self.counts[:n], self.state[:, :n])
        return pd.DataFrame(values, index=pd.Index(self._ids, name="source_id"))

    def save(self, path) -> None:
        """Write the state to an ``.npz`` file (via a temporary name).

        Parameters
        ----------
        path : str or path-like
            Destination file.
        """
        import os
        from pathlib import Path

        path = Path(path)
        n = self.n_source
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            source_id=np.asarray(self._ids),
            counts=self.counts[:n],
            state=self.state[:, :n],
            fields=np.asarray(kernels.STATE_FIELDS),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> MetricState:
        """Read a state written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            An ``.npz`` file.

        Returns
        -------
        MetricState

        Raises
        ------
        dsa110.errors.FileFormatError
            When the file is not a metric state of this version.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                ids = data["source_id"].tolist()
                counts = data["counts"]
                state = data["state"]
                fields = tuple(data["fields"].tolist())
        except (OSError, KeyError, ValueError) as exc:
            raise FileFormatError(path, f"not a metric state: {exc}") from exc
        if fields != kernels.STATE_FIELDS or state.shape != (len(fields), len(ids)):
            raise FileFormatError(path, "metric state layout differs", field="fields")
        self = cls(ids)
        self.counts[: len(ids)] = counts
        self.state[:, : len(ids)] = state
        return self
