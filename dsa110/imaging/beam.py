"""The restoring beam: an elliptical Gaussian fitted to the PSF's main lobe; restoring.

Angles follow the FITS/CASA convention: ``BMAJ``/``BMIN`` are full widths at half
maximum, ``BPA`` is the position angle of the major axis from north through east.
Images are ``(l, m)`` arrays with ``l`` toward east and ``m`` toward north.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.optimize

__all__ = ["Beam", "fit_beam", "gaussian_image", "main_lobe", "restore"]

_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class Beam:
    """An elliptical Gaussian beam.

    Attributes
    ----------
    bmaj, bmin : float
        FWHM of the major and minor axes, arcseconds.
    bpa : float
        Position angle of the major axis, degrees, north through east.
    """

    bmaj: float
    bmin: float
    bpa: float

    def area(self, cell_arcsec):
        """Beam area in pixels: ``π bmaj bmin / (4 ln 2) / cell²``."""
        return np.pi * self.bmaj * self.bmin / (4.0 * np.log(2.0)) / cell_arcsec**2


def gaussian_image(shape, beam, cell_arcsec, *, centre=None):
    """A peak-1 elliptical Gaussian on an ``(l, m)`` pixel grid.

    Parameters
    ----------
    shape : (int, int)
        ``(npix_l, npix_m)``.
    beam : Beam
    cell_arcsec : float
        Pixel size.
    centre : (float, float), keyword-only
        Pixel position of the peak (default: ``(n_l // 2, n_m // 2)``).

    Returns
    -------
    numpy.ndarray
        float64 ``shape``.
    """
    cx, cy = centre if centre is not None else (shape[0] // 2, shape[1] // 2)
    x = (np.arange(shape[0]) - cx)[:, None] * cell_arcsec  # east
    y = (np.arange(shape[1]) - cy)[None, :] * cell_arcsec  # north
    pa = np.radians(beam.bpa)
    # coordinates along the major axis (at PA from north through east) and minor axis
    a = x * np.sin(pa) + y * np.cos(pa)
    b = x * np.cos(pa) - y * np.sin(pa)
    sa, sb = beam.bmaj / _FWHM, beam.bmin / _FWHM
    return np.exp(-0.5 * ((a / sa) ** 2 + (b / sb) ** 2))


def main_lobe(psf, *, level=0.35):
    """The PSF's main lobe: the pixels above ``level`` that climb to its peak.

    Each pixel's steepest ascent (to its highest neighbour, until a pixel is
    higher than all of its neighbours) ends at a local maximum: the main lobe
    is the basin of the central one, cut at ``level`` (a watershed). A near
    sidelobe joined to the main lobe above ``level`` is a maximum of its own,
    and its basin is left out; a shoulder or ridge that falls away from the
    lobe stays in it.

    Parameters
    ----------
    psf : numpy.ndarray
        ``(l, m)`` PSF, peak 1 at ``(n // 2, n // 2)``.
    level : float, keyword-only
        Lowest value included.

    Returns
    -------
    numpy.ndarray
        ``(l, m)`` bool.
    """
    psf = np.asarray(psf, dtype=np.float64)
    n0, n1 = psf.shape
    padded = np.pad(psf, 1, constant_values=-np.inf)
    steps = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    shifted = np.stack(
        [padded[1 + dx : 1 + dx + n0, 1 + dy : 1 + dy + n1] for dx, dy in steps]
    )
    # the highest of each pixel's 3 × 3 (ties: the first, so a pixel on a
    # plateau points at a neighbour that points at itself, never in a cycle)
    best = np.argmax(shifted, axis=0)
    step = np.asarray(steps)[best]
    ix, iy = np.indices(psf.shape)
    target = (ix + step[..., 0]) * n1 + (iy + step[..., 1])
    target = target.ravel()
    while True:  # pointer jumping: each pass doubles the length followed
        jumped = target[target]
        if np.array_equal(jumped, target):
            break
        target = jumped
    peak = (n0 // 2) * n1 + n1 // 2
    return (target.reshape(psf.shape) == peak) & (psf > level)


def fit_beam(psf, cell_arcsec, *, level=0.35):
    """Fit an elliptical Gaussian to the main lobe of a PSF.

    The main lobe's pixels (:func:`main_lobe`: above ``level``, in the basin
    of the peak) are fitted by least squares (``BMAJ``, ``BMIN``, ``BPA``;
    peak fixed to 1 at the centre pixel). A sparse array's near sidelobes can
    rise above ``level`` next to the main lobe; taken with it (all pixels
    above ``level`` connected to the peak), they made the beam of a
    12-antenna subband image 2–3× too large.

    Parameters
    ----------
    psf : numpy.ndarray
        ``(l, m)`` PSF, peak 1 at ``(n // 2, n // 2)``.
    cell_arcsec : float
        Pixel size.
    level : float, keyword-only
        Lowest PSF value used.

    Returns
    -------
    Beam
    """
    psf = np.asarray(psf, dtype=np.float64)
    cx, cy = psf.shape[0] // 2, psf.shape[1] // 2
    half = min(cx, cy, 64)
    win = psf[cx - half : cx + half, cy - half : cy + half]
    ix, iy = np.nonzero(main_lobe(win, level=level))
    x = (ix - half) * cell_arcsec
    y = (iy - half) * cell_arcsec
    val = win[ix, iy]
    # second moments give the starting point
    w = np.clip(val, 1e-6, None)
    cxx = np.sum(w * x * x) / w.sum()
    cyy = np.sum(w * y * y) / w.sum()
    cxy = np.sum(w * x * y) / w.sum()
    evals, evecs = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    s0 = np.sqrt(np.maximum(evals, (0.3 * cell_arcsec) ** 2)) * 2.0
    major = evecs[:, 1]
    pa0 = np.degrees(np.arctan2(major[0], major[1]))

    def model(p):
        bmaj, bmin, pa = p
        pa = np.radians(pa)
        a = x * np.sin(pa) + y * np.cos(pa)
        b = x * np.cos(pa) - y * np.sin(pa)
        return np.exp(-0.5 * ((a * _FWHM / bmaj) ** 2 + (b * _FWHM / bmin) ** 2))

    fit = scipy.optimize.least_squares(
        lambda p: model(p) - val,
        x0=[s0[1] * _FWHM / 2, s0[0] * _FWHM / 2, pa0],
        bounds=(
            [0.1 * cell_arcsec, 0.1 * cell_arcsec, -np.inf],
            [np.inf, np.inf, np.inf],
        ),
    )
    bmaj, bmin, pa = fit.x
    if bmin > bmaj:
        bmaj, bmin, pa = bmin, bmaj, pa + 90.0
    pa = (pa + 90.0) % 180.0 - 90.0
    return Beam(float(bmaj), float(bmin), float(pa))


def restore(model, residual, beam, cell_arcsec):
    """Restored image: the model convolved with the beam, plus the residual.

    Parameters
    ----------
    model : numpy.ndarray
        ``(l, m)`` model image, Jy/pixel.
    residual : numpy.ndarray
        ``(l, m)`` residual image, Jy/beam.
    beam : Beam
    cell_arcsec : float

    Returns
    -------
    numpy.ndarray
        ``(l, m)`` restored image, Jy/beam, of ``residual``'s dtype.
    """
    if not np.any(model):
        return residual.copy()
    kernel = gaussian_image(model.shape, beam, cell_arcsec)
    kernel = np.fft.ifftshift(kernel)
    conv = scipy.fft.irfft2(
        scipy.fft.rfft2(model) * scipy.fft.rfft2(kernel), s=model.shape
    )
    return (conv + residual).astype(residual.dtype)
