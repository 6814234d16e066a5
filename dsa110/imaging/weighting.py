"""Imaging weights: natural, uniform and Briggs (robust), uv taper and uv-range.

The weight density is accumulated on the image's own uv grid (cells of
``1 / (npix · pixsize)`` wavelengths) in one pass over the data, counting each
visibility and its Hermitian conjugate (``−u, −v``), as CASA and WSClean do. The
density of several chunks is the sum of their densities, so the dask layer grids
each chunk and sums.

References
----------
Briggs, D. S. (1995), PhD thesis, New Mexico Tech, §3.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsa110._compat.numba import JIT_OPTIONS
from dsa110.telescope.beam import SPEED_OF_LIGHT

__all__ = ["weight_density", "imaging_weights", "WEIGHTINGS", "taper_sigma_uv"]

#: Weighting schemes.
WEIGHTINGS = ("natural", "uniform", "briggs")


@njit(**JIT_OPTIONS)
def _density(uvw, fc, weight, npx, npy, du, dv, uvmin, uvmax, out):
    nrow, nchan = weight.shape
    for r in range(nrow):
        for c in range(nchan):
            wt = weight[r, c]
            if wt == 0:
                continue
            u = uvw[r, 0] * fc[c]
            v = uvw[r, 1] * fc[c]
            q = math.sqrt(u * u + v * v)
            if q < uvmin or q > uvmax:
                continue
            iu = int(math.floor(u / du + 0.5)) + npx // 2
            iv = int(math.floor(v / dv + 0.5)) + npy // 2
            ju = npx - iu
            jv = npy - iv
            if 0 <= iu < npx and 0 <= iv < npy:
                out[iu, iv] += wt
            if 0 <= ju < npx and 0 <= jv < npy:
                out[ju, jv] += wt


@njit(**JIT_OPTIONS)
def _apply(
    uvw, fc, weight, density, npx, npy, du, dv, uvmin, uvmax, mode, f2, tsig2, out
):
    nrow, nchan = weight.shape
    for r in range(nrow):
        for c in range(nchan):
            wt = weight[r, c]
            u = uvw[r, 0] * fc[c]
            v = uvw[r, 1] * fc[c]
            q2 = u * u + v * v
            q = math.sqrt(q2)
            if wt == 0 or q < uvmin or q > uvmax:
                out[r, c] = 0
                continue
            if mode > 0:
                iu = int(math.floor(u / du + 0.5)) + npx // 2
                iv = int(math.floor(v / dv + 0.5)) + npy // 2
                d = 0.0
                if 0 <= iu < npx and 0 <= iv < npy:
                    d = density[iu, iv]
                if mode == 1:
                    wt = wt / d if d > 0 else 0.0
                else:
                    wt = wt / (1.0 + d * f2)
            if tsig2 > 0:
                wt = wt * math.exp(-0.5 * q2 / tsig2)
            out[r, c] = wt


def _cells(npix_x, npix_y, pixsize_x, pixsize_y):
    return 1.0 / (npix_x * pixsize_x), 1.0 / (npix_y * pixsize_y)


def weight_density(
    uvw,
    freq,
    weight,
    *,
    npix_x,
    npix_y,
    pixsize_x,
    pixsize_y,
    uv_range=(0.0, np.inf),
    out=None,
):
    """Sum of visibility weights per uv cell of the image's grid.

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    weight : numpy.ndarray
        ``(row, chan)`` float natural weights (0 for flagged data).
    npix_x, npix_y : int, keyword-only
        Image size.
    pixsize_x, pixsize_y : float, keyword-only
        Pixel size, radians.
    uv_range : (float, float), keyword-only
        Keep ``uvmin ≤ sqrt(u² + v²) ≤ uvmax`` (wavelengths).
    out : numpy.ndarray, optional
        ``(npix_x, npix_y)`` float64 density to add to.

    Returns
    -------
    numpy.ndarray
        ``(npix_x, npix_y)`` float64.
    """
    if out is None:
        out = np.zeros((npix_x, npix_y), dtype=np.float64)
    du, dv = _cells(npix_x, npix_y, pixsize_x, pixsize_y)
    fc = np.asarray(freq, dtype=np.float64) / SPEED_OF_LIGHT
    _density(
        np.ascontiguousarray(uvw, dtype=np.float64),
        fc,
        np.ascontiguousarray(weight),
        npix_x,
        npix_y,
        du,
        dv,
        float(uv_range[0]),
        float(uv_range[1]),
        out,
    )
    return out


def taper_sigma_uv(taper_arcsec):
    """Gaussian uv-taper σ (wavelengths) for an image-plane Gaussian of FWHM ``taper_arcsec``.

    Parameters
    ----------
    taper_arcsec : float
        FWHM of the image-plane Gaussian, arcseconds.

    Returns
    -------
    float
    """
    fwhm = np.radians(taper_arcsec / 3600.0)
    sigma_l = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    return 1.0 / (2.0 * np.pi * sigma_l)


def briggs_f2(density, total_weight, robust):
    """Briggs' ``f² = (5 · 10^−R)² / (Σ_k D_k² / Σ_i w_i)``.

    Parameters
    ----------
    density : numpy.ndarray
        ``(npix_x, npix_y)`` weight density.
    total_weight : float
        Sum of the natural weights that made the density (each counted twice: with
        its conjugate).
    robust : float
        Robustness ``R`` in [−2, 2].

    Returns
    -------
    float
    """
    if not -2.0 <= robust <= 2.0:
        raise ValueError(f"robust={robust!r} must lie in [-2, 2]")
    sum_d2 = float(np.sum(density * density))
    if sum_d2 == 0.0:
        return 0.0
    return (5.0 * 10.0 ** (-robust)) ** 2 / (sum_d2 / total_weight)


def imaging_weights(
    uvw,
    freq,
    weight,
    density=None,
    *,
    npix_x,
    npix_y,
    pixsize_x,
    pixsize_y,
    weighting="briggs",
    robust=0.0,
    taper_arcsec=None,
    uv_range=(0.0, np.inf),
    f2=None,
    out=None,
):
    """Imaging weights of visibilities.

    Parameters
    ----------
    uvw : numpy.ndarray
        ``(row, uvw_label)`` float64, metres.
    freq : numpy.ndarray
        ``(chan,)`` float64, Hz.
    weight : numpy.ndarray
        ``(row, chan)`` float32/float64 natural weights (0 = flagged).
    density : numpy.ndarray, optional
        ``(npix_x, npix_y)`` from :func:`weight_density` over *all* the data;
        computed from these data when absent (needed for uniform/Briggs).
    npix_x, npix_y, pixsize_x, pixsize_y : keyword-only
        The image grid.
    weighting : {"natural", "uniform", "briggs"}, keyword-only
    robust : float, keyword-only
        Briggs robustness (−2 ≈ uniform, 2 ≈ natural).
    taper_arcsec : float, keyword-only
        FWHM of a Gaussian taper in the image plane (arcsec); None for none.
    uv_range : (float, float), keyword-only
        uv-distance range kept, wavelengths.
    f2 : float, keyword-only
        Precomputed Briggs ``f²`` (from all data, see :func:`briggs_f2`).
    out : numpy.ndarray, optional
        ``(row, chan)`` output.

    Returns
    -------
    numpy.ndarray
        ``(row, chan)`` weights of ``weight``'s dtype.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r}: expected one of {WEIGHTINGS}")
    weight = np.ascontiguousarray(weight)
    uvw = np.ascontiguousarray(uvw, dtype=np.float64)
    grid = dict(npix_x=npix_x, npix_y=npix_y, pixsize_x=pixsize_x, pixsize_y=pixsize_y)
    mode = WEIGHTINGS.index(weighting)
    if mode > 0 and density is None:
        density = weight_density(uvw, freq, weight, uv_range=uv_range, **grid)
    if density is None:
        density = np.zeros((1, 1))
    if mode == 2 and f2 is None:
        f2 = briggs_f2(density, float(np.sum(density)), robust)
    du, dv = _cells(npix_x, npix_y, pixsize_x, pixsize_y)
    tsig = taper_sigma_uv(taper_arcsec) if taper_arcsec else 0.0
    if out is None:
        out = np.empty_like(weight)
    fc = np.asarray(freq, dtype=np.float64) / SPEED_OF_LIGHT
    _apply(
        uvw,
        fc,
        weight,
        density,
        density.shape[0],
        density.shape[1],
        du,
        dv,
        float(uv_range[0]),
        float(uv_range[1]),
        mode,
        float(f2 or 0.0),
        tsig * tsig,
        out,
    )
    return out
