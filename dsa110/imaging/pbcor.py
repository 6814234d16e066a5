"""Primary-beam correction with the Airy beam of DSA-110's 4.65 m dishes.

DSA-110 dishes point at the meridian and the sky drifts through the beam, so the
effective beam of an image made from many integrations is the average of the Airy
beam centred on each integration's pointing (the meridian at the pointing
declination), weighted by each integration's and channel's imaging weight. It is
smooth, so it is evaluated on a coarse grid and interpolated.
"""

from __future__ import annotations

import numpy as np
import scipy.interpolate

from dsa110.errors import ConfigurationError
from dsa110.telescope.beam import airy_beam

__all__ = ["pixel_radec", "effective_primary_beam", "pb_correct", "DEFAULT_PB_LIMIT"]

#: Pixels where the beam is below this are blanked in corrected images.
DEFAULT_PB_LIMIT = 0.2


def pixel_radec(l, m, ra0, dec0):
    """ICRS position of SIN-projected direction cosines around ``(ra0, dec0)``.

    Parameters
    ----------
    l, m : array-like of float
        Direction cosines (``l`` east, ``m`` north), broadcast together.
    ra0, dec0 : float
        Phase centre, radians.

    Returns
    -------
    ra, dec : numpy.ndarray
        Radians (RA in [0, 2π)).
    """
    l = np.asarray(l, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    n = np.sqrt(np.clip(1.0 - l * l - m * m, 0.0, None))
    dec = np.arcsin(np.clip(m * np.cos(dec0) + n * np.sin(dec0), -1.0, 1.0))
    ra = ra0 + np.arctan2(l, n * np.cos(dec0) - m * np.sin(dec0))
    return np.mod(ra, 2 * np.pi), dec


def effective_primary_beam(
    npix,
    cell_rad,
    centre,
    pointing_ra,
    pointing_dec,
    freq,
    *,
    time_weights=None,
    freq_weights=None,
    coarse=64,
):
    """Weighted mean of the Airy beam over integrations and channels, on the image pixels.

    Parameters
    ----------
    npix : int
        Image size (square).
    cell_rad : float
        Pixel size, radians.
    centre : (float, float)
        Phase centre (ra, dec), radians.
    pointing_ra, pointing_dec : array-like
        ``(time,)`` pointing centre of each integration, radians.
    freq : array-like
        ``(frequency,)`` Hz.
    time_weights, freq_weights : array-like, keyword-only
        ``(time,)`` and ``(frequency,)`` weights (default uniform).
    coarse : int, keyword-only
        Size of the grid the beam is evaluated on before cubic interpolation.

    Returns
    -------
    numpy.ndarray
        ``(l, m)`` float64 beam in [0, 1].
    """
    pra = np.atleast_1d(np.asarray(pointing_ra, dtype=np.float64))
    pdec = np.broadcast_to(np.asarray(pointing_dec, dtype=np.float64), pra.shape)
    freq = np.atleast_1d(np.asarray(freq, dtype=np.float64))
    tw = (
        np.ones(pra.size)
        if time_weights is None
        else np.asarray(time_weights, np.float64)
    )
    fw = (
        np.ones(freq.size)
        if freq_weights is None
        else np.asarray(freq_weights, np.float64)
    )
    # at most 32 frequencies: group channels in contiguous blocks (the beam is smooth)
    if freq.size > 32:
        edges = np.linspace(0, freq.size, 33).astype(int)
        fsum = np.add.reduceat(fw, edges[:-1])
        freq = np.add.reduceat(fw * freq, edges[:-1]) / np.where(fsum > 0, fsum, 1)
        fw = fsum
    ncoarse = min(npix, coarse)
    # coarse samples cover the image's pixel centres exactly at both ends
    pix = np.linspace(0, npix - 1, ncoarse)
    lm = (pix - npix // 2) * cell_rad
    ra, dec = pixel_radec(lm[:, None], lm[None, :], *centre)
    beam = np.zeros((ncoarse, ncoarse))
    for t in range(pra.size):
        if tw[t] == 0:
            continue
        cos_sep = np.sin(dec) * np.sin(pdec[t]) + np.cos(dec) * np.cos(
            pdec[t]
        ) * np.cos(ra - pra[t])
        sep = np.arccos(np.clip(cos_sep, -1.0, 1.0))
        beam += tw[t] * np.tensordot(airy_beam(sep[..., None], freq), fw, axes=(-1, 0))
    beam /= tw.sum() * fw.sum()
    if ncoarse == npix:
        return beam
    # the coarse grid is regular: a bicubic spline evaluated on the pixel grid is
    # separable, and much cheaper than general 2-D interpolation at every pixel
    coarse_pix = np.arange(ncoarse, dtype=np.float64)
    coords = np.arange(npix) * ((ncoarse - 1) / (npix - 1))
    spline = scipy.interpolate.RectBivariateSpline(
        coarse_pix, coarse_pix, beam, kx=3, ky=3
    )
    return spline(coords, coords, grid=True)


def pb_correct(image, beam, *, pb_limit=DEFAULT_PB_LIMIT):
    """Divide an image by the primary beam, blanking (NaN) where the beam < ``pb_limit``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(l, m)`` image.
    beam : numpy.ndarray
        ``(l, m)`` primary beam.
    pb_limit : float, keyword-only
        Blanking level (default 0.2).

    Returns
    -------
    numpy.ndarray
        ``(l, m)``, the dtype of ``image``.
    """
    if not 0 < pb_limit < 1:
        raise ConfigurationError(f"pb_limit={pb_limit!r}: must lie in (0, 1)")
    ok = beam >= pb_limit
    out = np.full(image.shape, np.nan, dtype=image.dtype)
    out[ok] = image[ok] / beam[ok]
    return out
