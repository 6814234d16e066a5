"""Simulated restored images with known sources, for tests, benchmarks and demos.

Sources are elliptical Gaussians (the beam convolved with the intrinsic shape),
noise is white Gaussian noise smoothed so that its autocorrelation is the
restoring beam — the correlation a CLEAN-restored interferometric image has
over a beam — and rescaled to the requested rms.
"""

from __future__ import annotations

import numpy as np

from dsa110.photometry.beam import Beam, covariance_from_axes
from dsa110.photometry.image import Image

__all__ = ["make_wcs", "simulate_image", "correlated_noise"]


def make_wcs(shape, *, ra=180.0, dec=45.0, cell_arcsec=3.0):
    """Return a SIN-projection WCS centred on ``(ra, dec)`` with square pixels.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx) of the image.
    ra, dec : float, keyword-only
        Centre, degrees (ICRS).
    cell_arcsec : float, keyword-only
        Pixel size, arcseconds.

    Returns
    -------
    astropy.wcs.WCS
    """
    from astropy.wcs import WCS  # deferred: keep the package import light

    ny, nx = shape
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [nx / 2 + 1, ny / 2 + 1]
    w.wcs.cdelt = [-cell_arcsec / 3600.0, cell_arcsec / 3600.0]
    w.wcs.radesys = "ICRS"
    return w


def correlated_noise(shape, beam_cov_pix, rms, rng):
    """Gaussian noise whose autocorrelation has the beam's shape.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx).
    beam_cov_pix : numpy.ndarray, shape (2, 2)
        Beam covariance in pixels² (x, y).
    rms : float
        Target standard deviation per pixel.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    numpy.ndarray, shape (y, x), float64

    Notes
    -----
    White noise is convolved (by FFT, periodically) with a Gaussian of half the
    beam covariance, so the result's autocorrelation is a Gaussian with the beam
    covariance; it is then scaled by the exact theoretical factor to ``rms``.
    """
    ny, nx = shape
    white = rng.standard_normal(shape)
    half = 0.5 * np.asarray(beam_cov_pix, float)
    fy = np.fft.fftfreq(ny)[:, None]
    fx = np.fft.rfftfreq(nx)[None, :]
    # the unit-sum Gaussian kernel of covariance ``half`` has the Fourier
    # transform exp(-2 π² f^T half f) and Σ k² = 1 / (4 π sqrt(det half))
    q = half[0, 0] * fx**2 + 2 * half[0, 1] * fx * fy + half[1, 1] * fy**2
    smooth = np.fft.irfft2(np.fft.rfft2(white) * np.exp(-2 * np.pi**2 * q), s=shape)
    std = np.sqrt(1.0 / (4 * np.pi * np.sqrt(np.linalg.det(half))))
    return smooth * (rms / std)


def simulate_image(
    shape,
    *,
    beam: Beam,
    ra=None,
    dec=None,
    flux=None,
    major=None,
    minor=None,
    pa=None,
    rms=1e-3,
    background=0.0,
    cell_arcsec=3.0,
    centre=(180.0, 45.0),
    correlated=True,
    frequency=1.4e9,
    rng=None,
    dtype=np.float32,
):
    """Simulate a restored image of Gaussian sources with beam-correlated noise.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx).
    beam : Beam, keyword-only
        Restoring beam.
    ra, dec : numpy.ndarray, shape (source,), float64, keyword-only
        Source positions, degrees.
    flux : numpy.ndarray, shape (source,), float64, keyword-only
        Integrated flux densities, Jy.
    major, minor, pa : numpy.ndarray, shape (source,), float64, optional
        Intrinsic (deconvolved) FWHM in degrees and PA in degrees; point
        sources when omitted.
    rms : float, keyword-only
        Noise standard deviation, Jy/beam.
    background : float, keyword-only
        Constant offset added, Jy/beam.
    cell_arcsec : float, keyword-only
        Pixel size.
    centre : tuple of float, keyword-only
        Image centre (RA, Dec) in degrees.
    correlated : bool, keyword-only
        Beam-correlated noise (True) or white noise.
    frequency : float, keyword-only
        Frequency recorded on the image, Hz.
    rng : numpy.random.Generator, keyword-only
        Random generator.
    dtype : numpy dtype, keyword-only
        Output data type.

    Returns
    -------
    Image
    """
    rng = np.random.default_rng(rng)
    wcs = make_wcs(shape, ra=centre[0], dec=centre[1], cell_arcsec=cell_arcsec)
    ny, nx = shape
    img = np.zeros(shape, float)
    bcov_sky = covariance_from_axes(beam.bmaj, beam.bmin, beam.bpa)
    minv = np.linalg.inv(wcs.pixel_scale_matrix)
    if ra is not None and len(ra):
        ra = np.atleast_1d(np.asarray(ra, float))
        dec = np.atleast_1d(np.asarray(dec, float))
        flux = np.broadcast_to(np.asarray(flux, float), ra.shape)
        n = ra.size
        major = np.zeros(n) if major is None else np.broadcast_to(major, (n,))
        minor = np.zeros(n) if minor is None else np.broadcast_to(minor, (n,))
        pa = np.zeros(n) if pa is None else np.broadcast_to(pa, (n,))
        x, y = wcs.world_to_pixel_values(ra, dec)
        cov_sky = covariance_from_axes(major, minor, pa) + bcov_sky
        cov_pix = minv @ cov_sky @ minv.T
        # peak = S_int * beam area / source area
        peak = flux * np.sqrt(np.linalg.det(bcov_sky) / np.linalg.det(cov_sky))
        for k in range(n):
            inv = np.linalg.inv(cov_pix[k])
            half = int(np.ceil(5 * np.sqrt(cov_pix[k].diagonal().max())))
            x0, x1 = max(int(x[k]) - half, 0), min(int(x[k]) + half + 2, nx)
            y0, y1 = max(int(y[k]) - half, 0), min(int(y[k]) + half + 2, ny)
            if x0 >= x1 or y0 >= y1:
                continue
            dx = np.arange(x0, x1)[None, :] - x[k]
            dy = np.arange(y0, y1)[:, None] - y[k]
            q = inv[0, 0] * dx**2 + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy**2
            img[y0:y1, x0:x1] += peak[k] * np.exp(-0.5 * q)
    if rms > 0:
        if correlated:
            img += correlated_noise(shape, minv @ bcov_sky @ minv.T, rms, rng)
        else:
            img += rng.normal(0.0, rms, shape)
    img += background
    return Image(img.astype(dtype), wcs, beam, float(frequency), {"simulated": True})
