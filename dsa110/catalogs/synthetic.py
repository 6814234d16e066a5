"""A synthetic NVSS-like catalog with realistic 1.4 GHz source counts.

Integral counts follow N(>S) = 53 deg⁻² (S / 2.5 mJy)^-0.9 below 100 mJy and
steepen to a slope of 1.1 above (continuous at 100 mJy): about 53 sources per
square degree above the NVSS limit of 2.5 mJy, 17 above 10 mJy and 2.1 above
100 mJy, as in NVSS (Condon et al. 1998). About 15% of sources get deconvolved
sizes of up to 60″; positions are uniform on the sphere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.catalogs.surveys import CANONICAL_COLUMNS

__all__ = ["synthetic_nvss", "to_nvss_vizier", "nvss_counts"]

_N0, _S0, _G1, _SB, _G2 = 53.0, 2.5e-3, 0.9, 0.1, 1.1


def nvss_counts(s):
    """Integral source counts N(>S) per square degree at 1.4 GHz (S in Jy)."""
    s = np.asarray(s, float)
    nb = _N0 * (_SB / _S0) ** -_G1
    return np.where(s < _SB, _N0 * (s / _S0) ** -_G1, nb * (s / _SB) ** -_G2)


def _sample_flux(n, smin, smax, rng):
    nmin, nmax = nvss_counts(smin), nvss_counts(smax)
    u = rng.uniform(nmax, nmin, n)  # N(>S) uniform → S by inversion
    nb = nvss_counts(_SB)
    return np.where(u > nb, _S0 * (u / _N0) ** (-1 / _G1), _SB * (u / nb) ** (-1 / _G2))


def synthetic_nvss(
    *,
    ra=None,
    dec=None,
    radius=None,
    dec_range=(-40.0, 90.0),
    smin=2.5e-3,
    smax=10.0,
    n=None,
    rng=None,
) -> pd.DataFrame:
    """Draw an NVSS-like canonical catalog.

    Parameters
    ----------
    ra, dec, radius : float, keyword-only
        A cone (degrees); when omitted, the band ``dec_range`` over all RA.
    dec_range : tuple of float, keyword-only
        Declination limits when no cone is given (NVSS: δ > −40°).
    smin, smax : float, keyword-only
        Flux-density limits, Jy.
    n : int, keyword-only
        Number of sources (default: drawn from the counts and the area).
    rng : numpy.random.Generator or int, keyword-only

    Returns
    -------
    pandas.DataFrame
        Canonical columns (:data:`~dsa110.catalogs.surveys.CANONICAL_COLUMNS`).
    """
    rng = np.random.default_rng(rng)
    if radius is not None:
        area = 2 * np.pi * (1 - np.cos(np.radians(radius))) * (180 / np.pi) ** 2
    else:
        lo, hi = np.radians(dec_range)
        area = 2 * np.pi * (np.sin(hi) - np.sin(lo)) * (180 / np.pi) ** 2
    if n is None:
        n = rng.poisson(area * (nvss_counts(smin) - nvss_counts(smax)))
    if radius is not None:
        # uniform in the cone around the pole, then rotated to (ra, dec)
        cr = rng.uniform(np.cos(np.radians(radius)), 1.0, n)
        th, ph = np.arccos(cr), rng.uniform(0, 2 * np.pi, n)
        v = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), cr])
        a, d = np.radians(ra), np.radians(dec)
        ry = np.array(
            [[np.sin(d), 0, np.cos(d)], [0, 1, 0], [-np.cos(d), 0, np.sin(d)]]
        )
        rz = np.array(
            [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
        )
        w = rz @ ry @ v
        ras = np.degrees(np.arctan2(w[1], w[0])) % 360
        decs = np.degrees(np.arcsin(np.clip(w[2], -1, 1)))
    else:
        lo, hi = np.radians(dec_range)
        decs = np.degrees(np.arcsin(rng.uniform(np.sin(lo), np.sin(hi), n)))
        ras = rng.uniform(0, 360, n)
    flux = _sample_flux(n, smin, smax, rng)
    extended = rng.random(n) < 0.15
    maj = np.where(extended, rng.uniform(5, 60, n), 0.0)
    mnr = np.where(extended, maj * rng.uniform(0.3, 1.0, n), 0.0)
    pa = np.where(extended, rng.uniform(0, 180, n), np.nan)
    # NVSS errors: 0.45 mJy rms plus 3% calibration; positions ~ 45″·σ/S plus 0.5″
    ferr = np.hypot(0.45e-3, 0.03 * flux)
    perr = np.hypot(0.5, 45.0 * 0.45e-3 / flux / 2)
    df = pd.DataFrame(
        {
            "name": [f"SYN{i:07d}" for i in range(n)],
            "ra": ras,
            "dec": decs,
            "ra_err": perr,
            "dec_err": perr,
            "flux_int": flux,
            "flux_int_err": ferr,
            "flux_peak": np.nan,
            "flux_peak_err": np.nan,
            "maj": maj,
            "min": mnr,
            "pa": pa,
            "resolved": extended,
            "rms": 0.45e-3,
            "flag": 0,
        }
    )
    return df.astype({k: v for k, v in CANONICAL_COLUMNS.items() if v is not object})


def to_nvss_vizier(df: pd.DataFrame) -> pd.DataFrame:
    """Write a canonical table in NVSS's VizieR (VIII/65) columns and units.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical table.

    Returns
    -------
    pandas.DataFrame
        ``NVSS``, ``RAJ2000``/``DEJ2000`` ("h m s"/"d m s" strings),
        ``e_RAJ2000`` (s), ``e_DEJ2000`` (arcsec), ``S1.4``/``e_S1.4`` (mJy),
        ``l_MajAxis``, ``MajAxis``, ``l_MinAxis``, ``MinAxis`` (arcsec), ``PA``.
    """
    from astropy.coordinates import Angle  # deferred: astropy is heavy

    ra_s = Angle(df["ra"].to_numpy(), unit="deg").to_string(
        unit="hourangle", sep=" ", precision=2, pad=True
    )
    dec_s = Angle(df["dec"].to_numpy(), unit="deg").to_string(
        unit="deg", sep=" ", precision=1, alwayssign=True, pad=True
    )
    unres = ~df["resolved"].to_numpy()
    return pd.DataFrame(
        {
            "NVSS": df["name"].to_numpy(),
            "RAJ2000": ra_s,
            "DEJ2000": dec_s,
            "e_RAJ2000": df["ra_err"].to_numpy()
            / 15.0
            / np.cos(np.radians(df["dec"].to_numpy())),
            "e_DEJ2000": df["dec_err"].to_numpy(),
            "S1.4": df["flux_int"].to_numpy() * 1e3,
            "e_S1.4": df["flux_int_err"].to_numpy() * 1e3,
            "l_MajAxis": np.where(unres, "<", ""),
            "MajAxis": np.where(unres, 20.0, df["maj"].to_numpy()),
            "l_MinAxis": np.where(unres, "<", ""),
            "MinAxis": np.where(unres, 18.0, df["min"].to_numpy()),
            "PA": df["pa"].to_numpy(),
        }
    )
