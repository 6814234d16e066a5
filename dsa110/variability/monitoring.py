"""Calibrator and reference flux monitoring with drift alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError

__all__ = ["monitor_fluxes"]


def monitor_fluxes(
    table,
    source_ids,
    *,
    reference_flux=None,
    column="flux",
    threshold=0.05,
    nsigma=3.0,
    window=3,
):
    """Follow the flux of calibrators/references and alert when it drifts.

    Parameters
    ----------
    table : pandas.DataFrame
        Measurement or light-curve rows: ``source_id``, ``image_id``, ``time``,
        ``column`` and ``column + "_err"``.
    source_ids : sequence
        The calibrators and references to follow.
    reference_flux : mapping or pandas.Series, keyword-only, optional
        Expected flux of each source (e.g. the catalogue or model flux, Jy);
        the median of its own history when omitted.
    column : str, keyword-only
        ``"flux"`` (raw, to watch the calibration) or ``"flux_norm"``.
    threshold : float, keyword-only
        Fractional drift |f/f_ref − 1| that raises an alert.
    nsigma : float, keyword-only
        The drift must also exceed ``nsigma`` times its error.
    window : int, keyword-only
        Running median over this many epochs before comparing (1: none), so
        one noisy epoch does not alert.

    Returns
    -------
    series : pandas.DataFrame
        One row per (source, epoch): ``source_id``, ``image_id``, ``time``,
        ``flux``, ``flux_err``, ``reference_flux``, ``ratio`` (running median
        of f/f_ref), ``ratio_err``, ``drift`` (ratio − 1) and ``alert``.
    alerts : pandas.DataFrame
        The rows of ``series`` with ``alert`` True.

    Raises
    ------
    dsa110.errors.ConfigurationError
        For non-positive ``threshold``/``nsigma``/``window`` or an unknown column.
    """
    if not (threshold > 0 and nsigma > 0 and int(window) >= 1):
        raise ConfigurationError("threshold, nsigma and window must be positive")
    err_col = f"{column}_err"
    if column not in table or err_col not in table:
        raise ConfigurationError(f"table has no {column!r}/{err_col!r} columns")
    rows = table[table["source_id"].isin(list(source_ids))]
    rows = rows.sort_values(["source_id", "time"], kind="stable")
    parts = []
    for sid, grp in rows.groupby("source_id", sort=False):
        f = grp[column].to_numpy(np.float64)
        e = grp[err_col].to_numpy(np.float64)
        if reference_flux is not None and sid in reference_flux:
            ref = float(reference_flux[sid])
        else:
            ref = float(np.median(f))
        ratio = pd.Series(f / ref).rolling(int(window), min_periods=1).median()
        # error of a running median of k points ≈ sqrt(pi/2) σ / sqrt(k)
        k = pd.Series(np.ones_like(f)).rolling(int(window), min_periods=1).sum()
        ratio_err = pd.Series(e / abs(ref)).rolling(
            int(window), min_periods=1
        ).mean() * np.sqrt(np.pi / 2.0 / k)
        drift = ratio.to_numpy() - 1.0
        alert = (np.abs(drift) > threshold) & (
            np.abs(drift) > nsigma * ratio_err.to_numpy()
        )
        parts.append(
            pd.DataFrame(
                {
                    "source_id": sid,
                    "image_id": grp["image_id"].to_numpy(),
                    "time": grp["time"].to_numpy(),
                    "flux": f,
                    "flux_err": e,
                    "reference_flux": ref,
                    "ratio": ratio.to_numpy(),
                    "ratio_err": ratio_err.to_numpy(),
                    "drift": drift,
                    "alert": alert,
                }
            )
        )
    series = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            columns=[
                "source_id",
                "image_id",
                "time",
                "flux",
                "flux_err",
                "reference_flux",
                "ratio",
                "ratio_err",
                "drift",
                "alert",
            ]
        )
    )
    return series, series[series["alert"].astype(bool)].reset_index(drop=True)
