"""Crossmatching and the master catalog across surveys.

The master catalog has one row per sky source: the sources of the first
survey in ``order`` (NVSS by default — its 45″ beam, larger than DSA-110's
~15–20″, sees a source as one), then, survey by survey, every component is
attached to the nearest master row within ``radius`` (default
:data:`DEFAULT_RADIUS_ARCSEC` = 7.5″, about a third of the DSA-110 beam and
~3× NVSS's position error for faint sources) and the flux densities of all
components attached to a row are summed; components that match nothing start
new rows.

Per survey ``s`` the master has ``flux_s``, ``flux_err_s`` (Jy) and ``n_s``
(components). ``alpha``/``alpha_err`` is the weighted least-squares spectral
index (S ∝ ν^α) over every survey that measured the source at ≥ 2 distinct
frequencies. ``resolved`` is set when any survey gives a deconvolved major axis
above ``resolved_arcsec`` (default 10″) or splits the source into several
components; ``confused`` when another master source lies within
``confusion_arcsec`` (default 45″, ~2.5 DSA-110 beams).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.catalogs.surveys import SURVEYS
from dsa110.errors import ConfigurationError

__all__ = ["DEFAULT_RADIUS_ARCSEC", "crossmatch", "build_master", "fit_power_law"]

#: Default crossmatch radius, arcsec.
DEFAULT_RADIUS_ARCSEC = 7.5


def _unit(ra, dec):
    ra, dec = np.radians(ra), np.radians(dec)
    return np.column_stack(
        [np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]
    )


def _chord(arcsec):
    return 2 * np.sin(np.radians(arcsec / 3600.0) / 2)


def crossmatch(ra1, dec1, ra2, dec2, *, radius_arcsec=DEFAULT_RADIUS_ARCSEC):
    """Nearest neighbour in catalog 2 of each source of catalog 1 within a radius.

    Parameters
    ----------
    ra1, dec1 : numpy.ndarray, shape (n1,), float64
        Degrees.
    ra2, dec2 : numpy.ndarray, shape (n2,), float64
        Degrees.
    radius_arcsec : float, keyword-only

    Returns
    -------
    index : numpy.ndarray, shape (n1,), int64
        Index into catalog 2, -1 where nothing is within the radius.
    separation : numpy.ndarray, shape (n1,), float64
        Arcsec (inf where unmatched).
    """
    from scipy.spatial import cKDTree  # deferred: scipy is heavy

    n1 = len(ra1)
    if n1 == 0 or len(ra2) == 0:
        return np.full(n1, -1, np.int64), np.full(n1, np.inf)
    tree = cKDTree(_unit(ra2, dec2))
    d, i = tree.query(_unit(ra1, dec1), distance_upper_bound=_chord(radius_arcsec))
    ok = np.isfinite(d)
    sep = np.full(n1, np.inf)
    sep[ok] = np.degrees(2 * np.arcsin(np.clip(d[ok] / 2, 0, 1))) * 3600
    return np.where(ok, i, -1).astype(np.int64), sep


def fit_power_law(freq, flux, err):
    """Weighted least-squares power law S = S0 (ν/ν0)^α per row, in log space.

    Parameters
    ----------
    freq : numpy.ndarray, shape (band,), float64
        Frequencies, Hz.
    flux, err : numpy.ndarray, shape (source, band), float64
        Flux densities and errors; NaN, non-positive fluxes and non-positive
        errors are ignored.

    Returns
    -------
    alpha, alpha_err : numpy.ndarray, shape (source,), float64
        NaN where fewer than two distinct frequencies are usable.

    Notes
    -----
    Linearised: ln S has error σ/S. ν0 is the weighted mean of ln ν per row.
    """
    flux = np.asarray(flux, float)
    err = np.asarray(err, float)
    lnu = np.broadcast_to(np.log(np.asarray(freq, float)), flux.shape)
    ok = np.isfinite(flux) & np.isfinite(err) & (flux > 0) & (err > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(ok, (flux / err) ** 2, 0.0)
        ls = np.where(ok, np.log(np.where(ok, flux, 1.0)), 0.0)
        sw = w.sum(1)
        xm = (w * lnu).sum(1) / sw
        ym = (w * ls).sum(1) / sw
        sxx = (w * (lnu - xm[:, None]) ** 2).sum(1)
        sxy = (w * (lnu - xm[:, None]) * (ls - ym[:, None])).sum(1)
        alpha = sxy / sxx
        alpha_err = 1.0 / np.sqrt(sxx)
    bad = ~(sxx > 1e-12)
    alpha[bad] = np.nan
    alpha_err[bad] = np.nan
    return alpha, alpha_err


def build_master(
    tables: dict,
    *,
    order=("nvss", "first", "vlass", "racs"),
    radius_arcsec=DEFAULT_RADIUS_ARCSEC,
    resolved_arcsec=10.0,
    confusion_arcsec=45.0,
    drop_flagged=True,
    frequencies=None,
) -> pd.DataFrame:
    """Build the master catalog from canonical survey tables.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Canonical tables by survey name.
    order : sequence of str, keyword-only
        Priority; the first present survey defines the master positions.
    radius_arcsec : float, keyword-only
        Match radius (default 7.5″).
    resolved_arcsec, confusion_arcsec : float, keyword-only
        Thresholds of the ``resolved`` and ``confused`` flags.
    drop_flagged : bool, keyword-only
        Ignore rows with a nonzero ``flag`` (duplicates, bad quality, sidelobes).
    frequencies : dict of str to float, keyword-only
        Frequencies (Hz) of surveys not in :data:`~dsa110.catalogs.surveys.SURVEYS`.

    Returns
    -------
    pandas.DataFrame
        ``ra``, ``dec``, ``origin`` (survey that created the row),
        ``flux_<s>``, ``flux_err_<s>``, ``n_<s>`` per survey, ``alpha``,
        ``alpha_err``, ``resolved``, ``confused``.
    """
    from scipy.spatial import cKDTree  # deferred: scipy is heavy

    names = [s for s in order if s in tables] + [s for s in tables if s not in order]
    if not names:
        raise ConfigurationError("no tables to crossmatch")
    freqs = {}
    for s in names:
        if frequencies and s in frequencies:
            freqs[s] = float(frequencies[s])
        elif s in SURVEYS:
            freqs[s] = SURVEYS[s].frequency
        else:
            raise ConfigurationError(
                f"frequency of survey {s!r} unknown; pass frequencies="
            )
    ra = np.zeros(0)
    dec = np.zeros(0)
    origin = np.zeros(0, object)
    resolved = np.zeros(0, bool)
    per = {}
    for s in names:
        t = tables[s]
        if drop_flagged and "flag" in t:
            t = t[t["flag"].to_numpy() == 0]
        tra, tdec = t["ra"].to_numpy(float), t["dec"].to_numpy(float)
        idx, _ = crossmatch(tra, tdec, ra, dec, radius_arcsec=radius_arcsec)
        new = idx < 0
        start = ra.size
        idx[new] = start + np.arange(new.sum())
        ra = np.r_[ra, tra[new]]
        dec = np.r_[dec, tdec[new]]
        origin = np.r_[origin, np.full(new.sum(), s, object)]
        resolved = np.r_[resolved, np.zeros(new.sum(), bool)]
        for prev in per.values():
            for key in prev:
                prev[key] = np.r_[
                    prev[key], np.full(new.sum(), 0 if key == "n" else np.nan)
                ]
        n = ra.size
        flux = np.full(n, np.nan)
        var = np.full(n, np.nan)
        cnt = np.zeros(n, np.int64)
        f = t["flux_int"].to_numpy(float)
        e = (
            t["flux_int_err"].to_numpy(float)
            if "flux_int_err" in t
            else np.full(len(t), np.nan)
        )
        np.add.at(cnt, idx, 1)
        hit = cnt > 0
        flux[hit] = 0.0
        var[hit] = 0.0
        np.add.at(flux, idx, f)
        np.add.at(var, idx, e**2)
        per[s] = {"flux": flux, "err": np.sqrt(var), "n": cnt}
        maj = t["maj"].to_numpy(float) if "maj" in t else np.zeros(len(t))
        big = np.zeros(n, bool)
        np.logical_or.at(big, idx, np.nan_to_num(maj) > resolved_arcsec)
        resolved = resolved | big | (cnt > 1)
    out = {"ra": ra, "dec": dec, "origin": origin.astype(str)}
    for s in names:
        out[f"flux_{s}"] = per[s]["flux"]
        out[f"flux_err_{s}"] = per[s]["err"]
        out[f"n_{s}"] = per[s]["n"]
    fl = np.column_stack([per[s]["flux"] for s in names])
    er = np.column_stack([per[s]["err"] for s in names])
    out["alpha"], out["alpha_err"] = fit_power_law(
        np.array([freqs[s] for s in names]), fl, er
    )
    out["resolved"] = resolved
    confused = np.zeros(ra.size, bool)
    if ra.size > 1:
        pairs = cKDTree(_unit(ra, dec)).query_pairs(
            _chord(confusion_arcsec), output_type="ndarray"
        )
        confused[pairs.ravel()] = True
    out["confused"] = confused
    return pd.DataFrame(out)
