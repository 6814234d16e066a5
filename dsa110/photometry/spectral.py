"""In-band spectral indices from per-subband images.

Forced photometry (:func:`~dsa110.photometry.forced.forced_photometry`) at the
same positions in each subband image, then a weighted least-squares power law
S(ν) = S0 (ν/ν0)^α fitted to the linear fluxes (Gauss–Newton, vectorised over
sources), with errors from the inverse of the weighted normal matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsa110.errors import ConfigurationError

__all__ = ["fit_spectral_index", "inband_spectral_index"]


def fit_spectral_index(freq, flux, err, *, ref_frequency=None, niter=20):
    """Fit S = S0 (ν/ν0)^α to each row by weighted nonlinear least squares.

    Parameters
    ----------
    freq : numpy.ndarray, shape (band,), float64
        Frequencies, Hz.
    flux, err : numpy.ndarray, shape (source, band), float64
        Flux densities and 1σ errors (Jy); NaN or non-positive errors are ignored.
    ref_frequency : float, keyword-only
        ν0 (default: geometric mean of ``freq``).
    niter : int, keyword-only
        Gauss–Newton iterations.

    Returns
    -------
    pandas.DataFrame
        ``s0``, ``s0_err`` (Jy at ν0), ``alpha``, ``alpha_err``, ``chi2``,
        ``n_bands``, ``ref_frequency``; NaN where the fit is undetermined.
    """
    freq = np.asarray(freq, float)
    flux = np.atleast_2d(np.asarray(flux, float))
    err = np.atleast_2d(np.asarray(err, float))
    if flux.shape[1] != freq.size or err.shape != flux.shape:
        raise ConfigurationError(
            f"flux {flux.shape}/err {err.shape} do not match {freq.size} bands"
        )
    nu0 = (
        float(np.exp(np.mean(np.log(freq))))
        if ref_frequency is None
        else float(ref_frequency)
    )
    x = np.log(freq / nu0)[None, :]
    ok = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    f = np.where(ok, flux, 0.0)
    # start: weighted mean flux, flat spectrum
    s0 = (w * f).sum(1) / np.maximum(w.sum(1), 1e-300)
    alpha = np.zeros_like(s0)
    for _ in range(niter):
        p = np.exp(alpha[:, None] * x)
        model = s0[:, None] * p
        j0, j1 = p, model * x  # d model / d s0, d model / d alpha
        r = f - model
        a00, a01, a11 = (w * j0 * j0).sum(1), (w * j0 * j1).sum(1), (w * j1 * j1).sum(1)
        b0, b1 = (w * j0 * r).sum(1), (w * j1 * r).sum(1)
        det = a00 * a11 - a01**2
        with np.errstate(invalid="ignore", divide="ignore"):
            ds0 = (a11 * b0 - a01 * b1) / det
            da = (a00 * b1 - a01 * b0) / det
        ds0 = np.where(np.isfinite(ds0), ds0, 0.0)
        da = np.clip(np.where(np.isfinite(da), da, 0.0), -1.0, 1.0)
        s0, alpha = s0 + ds0, alpha + da
        if np.all(np.abs(da) < 1e-8):
            break
    p = np.exp(alpha[:, None] * x)
    model = s0[:, None] * p
    j0, j1 = p, model * x
    a00, a01, a11 = (w * j0 * j0).sum(1), (w * j0 * j1).sum(1), (w * j1 * j1).sum(1)
    det = a00 * a11 - a01**2
    nb = ok.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s0_err = np.sqrt(a11 / det)
        alpha_err = np.sqrt(a00 / det)
    chi2 = (w * (f - model) ** 2).sum(1)
    xb = np.broadcast_to(x, ok.shape)
    spread = np.where(ok, xb, -np.inf).max(1) - np.where(ok, xb, np.inf).min(1)
    bad = (nb < 2) | ~(det > 0) | ~(spread > 1e-9)  # needs two distinct frequencies
    for arr in (s0, alpha, s0_err, alpha_err, chi2):
        arr[bad] = np.nan
    return pd.DataFrame(
        {
            "s0": s0,
            "s0_err": s0_err,
            "alpha": alpha,
            "alpha_err": alpha_err,
            "chi2": chi2,
            "n_bands": nb,
            "ref_frequency": nu0,
        }
    )


def inband_spectral_index(
    images, ra, dec, *, frequencies=None, ref_frequency=None, **forced_kwargs
):
    """Spectral indices at given positions from a list of subband images.

    Parameters
    ----------
    images : list of Image
        One image per subband (each with its own beam).
    ra, dec : numpy.ndarray, shape (source,), float64
        Positions, degrees.
    frequencies : numpy.ndarray, shape (band,), float64, keyword-only
        Subband frequencies (default: each image's ``frequency``).
    ref_frequency : float, keyword-only
        Reference frequency for ``s0``.
    **forced_kwargs
        Passed to :func:`~dsa110.photometry.forced.forced_photometry`.

    Returns
    -------
    fit : pandas.DataFrame
        :func:`fit_spectral_index`'s columns plus ``ra``, ``dec``.
    fluxes, errors : numpy.ndarray, shape (source, band), float64
        Per-subband forced fluxes and errors (Jy).
    """
    from dsa110.photometry.forced import forced_photometry

    images = list(images)
    if not images:
        raise ConfigurationError("no subband images given")
    freq = np.array(
        [im.frequency for im in images] if frequencies is None else frequencies, float
    )
    if not np.all(np.isfinite(freq)):
        raise ConfigurationError("subband images lack frequencies; pass frequencies=")
    cols = [forced_photometry(im, ra, dec, **forced_kwargs) for im in images]
    flux = np.column_stack([c["flux"].to_numpy() for c in cols])
    err = np.column_stack([c["flux_err"].to_numpy() for c in cols])
    fit = fit_spectral_index(freq, flux, err, ref_frequency=ref_frequency)
    fit.insert(0, "dec", np.asarray(dec, float))
    fit.insert(0, "ra", np.asarray(ra, float))
    return fit, flux, err
