"""Adaptive binning of faint light curves to a target signal-to-noise ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError
from dsa110.variability import kernels

__all__ = ["adaptive_bin"]


def adaptive_bin(time, flux, flux_err, *, target_snr=5.0, max_epochs=0):
    """Combine consecutive epochs until each bin reaches ``target_snr``.

    Parameters
    ----------
    time : array-like
        ``(epoch,)`` float64 MJD (sorted here if needed).
    flux : array-like
        ``(epoch,)`` float64 flux density.
    flux_err : array-like
        ``(epoch,)`` float64 1σ errors, > 0.
    target_snr : float, keyword-only
        A bin closes once ``|f̄_w| / σ_w >= target_snr``.
    max_epochs : int, keyword-only
        Most epochs per bin (0: unlimited), so that a source that is never
        detected still yields a light curve.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``time`` (weighted mean MJD), ``time_start``,
        ``time_stop``, ``flux`` (inverse-variance weighted mean), ``flux_err``
        (``(Σ 1/σ²)^{-1/2}``), ``n_epochs``, ``snr`` and ``complete`` (the bin
        reached the target).

    Raises
    ------
    dsa110.errors.ConfigurationError
        For a non-positive ``target_snr`` or a negative ``max_epochs``.

    Notes
    -----
    The weighted mean of independent measurements has variance 1/Σw exactly,
    so the errors are correct for Gaussian, uncorrelated noise; a trailing
    bin short of the target is merged into the previous bin (unless that
    would exceed ``max_epochs``), and ``complete`` says which bins reached it.
    """
    if not target_snr > 0:
        raise ConfigurationError("target_snr must be positive")
    if int(max_epochs) < 0:
        raise ConfigurationError("max_epochs must be >= 0")
    t = np.asarray(time, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t = np.ascontiguousarray(t[order])
    f = np.ascontiguousarray(np.asarray(flux, dtype=np.float64)[order])
    e = np.ascontiguousarray(np.asarray(flux_err, dtype=np.float64)[order])
    if t.size == 0:
        cols = [
            "time",
            "time_start",
            "time_stop",
            "flux",
            "flux_err",
            "n_epochs",
            "snr",
            "complete",
        ]
        return pd.DataFrame(columns=cols)
    idx, n_bin = kernels.adaptive_bin(t, f, e, float(target_snr), int(max_epochs))
    w = 1.0 / e**2
    sw = np.bincount(idx, w, minlength=n_bin)
    mean = np.bincount(idx, w * f, minlength=n_bin) / sw
    err = 1.0 / np.sqrt(sw)
    snr = np.abs(mean) / err
    return pd.DataFrame(
        {
            "time": np.bincount(idx, w * t, minlength=n_bin) / sw,
            "time_start": pd.Series(t).groupby(idx).min().to_numpy(),
            "time_stop": pd.Series(t).groupby(idx).max().to_numpy(),
            "flux": mean,
            "flux_err": err,
            "n_epochs": np.bincount(idx, minlength=n_bin),
            "snr": snr,
            "complete": snr >= target_snr,
        }
    )
