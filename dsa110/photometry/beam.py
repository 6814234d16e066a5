"""Restoring beams: elliptical Gaussians on the sky and on an image's pixel grid.

Sky conventions: ``bmaj``/``bmin`` are FWHM in degrees, ``bpa`` is the position
angle of the major axis in degrees, east of north (the FITS ``BMAJ``/``BMIN``/
``BPA`` keywords). Pixel conventions: 0-based ``(x, y)`` = (column, row), the
offsets mapped to the sky with the WCS's pixel-scale matrix, whose first row is
the east-pointing and second row the north-pointing intermediate coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsa110.errors import FileFormatError

__all__ = [
    "Beam",
    "FWHM_TO_SIGMA",
    "covariance_from_axes",
    "axes_from_covariance",
    "deconvolve",
]

#: sigma = FWHM * FWHM_TO_SIGMA for a Gaussian.
FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))


def covariance_from_axes(major, minor, pa_deg):
    """Return the 2x2 (east, north) covariance of Gaussians given FWHM axes.

    Parameters
    ----------
    major, minor : array_like of float
        FWHM of the major and minor axes (any angular unit).
    pa_deg : array_like of float
        Position angle of the major axis, degrees east of north.

    Returns
    -------
    numpy.ndarray, shape (..., 2, 2), float64
        Covariance in the unit of ``major`` squared.
    """
    major, minor, pa = np.broadcast_arrays(
        np.asarray(major, float), np.asarray(minor, float), np.radians(pa_deg)
    )
    sa2 = (major * FWHM_TO_SIGMA) ** 2
    sb2 = (minor * FWHM_TO_SIGMA) ** 2
    # major axis along (east, north) = (sin pa, cos pa); minor along (cos pa, -sin pa)
    s, c = np.sin(pa), np.cos(pa)
    cov = np.empty(major.shape + (2, 2))
    cov[..., 0, 0] = sa2 * s * s + sb2 * c * c
    cov[..., 1, 1] = sa2 * c * c + sb2 * s * s
    cov[..., 0, 1] = cov[..., 1, 0] = (sa2 - sb2) * s * c
    return cov


def axes_from_covariance(cov):
    """Return FWHM axes and PA (deg, E of N) of (east, north) covariances.

    Parameters
    ----------
    cov : array_like, shape (..., 2, 2), float
        Symmetric covariance matrices; negative eigenvalues are clipped to zero.

    Returns
    -------
    major, minor, pa : numpy.ndarray of float64
        FWHM axes (unit of sqrt(cov)) and PA in degrees in [0, 180).
    """
    cov = np.asarray(cov, float)
    a, b, d = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    tr, det = a + d, a * d - b * b
    disc = np.sqrt(np.maximum((a - d) ** 2 / 4.0 + b * b, 0.0))
    lam1 = np.maximum(tr / 2.0 + disc, 0.0)
    lam2 = np.maximum(tr / 2.0 - disc, 0.0)
    del det
    # major axis at PA φ: 2 cov_en = Δ sin 2φ, cov_nn - cov_ee = Δ cos 2φ
    pa = 0.5 * np.degrees(np.arctan2(2.0 * b, d - a))
    return (
        np.sqrt(lam1) / FWHM_TO_SIGMA,
        np.sqrt(lam2) / FWHM_TO_SIGMA,
        np.mod(pa, 180.0),
    )


def deconvolve(major, minor, pa_deg, beam):
    """Deconvolve fitted Gaussian shapes from a beam.

    Parameters
    ----------
    major, minor : array_like of float
        Fitted FWHM axes, degrees.
    pa_deg : array_like of float
        Fitted position angle, degrees east of north.
    beam : Beam
        The restoring beam.

    Returns
    -------
    major, minor, pa : numpy.ndarray of float64
        Deconvolved FWHM axes (degrees; 0 on an axis narrower than the beam)
        and position angle (degrees).

    Notes
    -----
    The intrinsic covariance is the fitted minus the beam covariance; its
    negative eigenvalues (a fit narrower than the beam) become zero.
    """
    cov = covariance_from_axes(major, minor, pa_deg) - covariance_from_axes(
        beam.bmaj, beam.bmin, beam.bpa
    )
    return axes_from_covariance(cov)


@dataclass(frozen=True)
class Beam:
    """An elliptical Gaussian restoring beam.

    Parameters
    ----------
    bmaj, bmin : float
        FWHM of the major and minor axes, degrees.
    bpa : float
        Position angle of the major axis, degrees east of north.
    """

    bmaj: float
    bmin: float
    bpa: float = 0.0

    @classmethod
    def from_header(cls, header, *, path="<header>"):
        """Read ``BMAJ``, ``BMIN``, ``BPA`` (degrees) from a FITS header.

        Raises
        ------
        FileFormatError
            When ``BMAJ`` or ``BMIN`` is absent.
        """
        for key in ("BMAJ", "BMIN"):
            if key not in header:
                raise FileFormatError(
                    path, "no restoring beam in the header", field=key
                )
        return cls(
            float(header["BMAJ"]), float(header["BMIN"]), float(header.get("BPA", 0.0))
        )

    @property
    def area_sr(self) -> float:
        """Beam solid angle in steradians (pi * bmaj * bmin / (4 ln 2))."""
        return np.pi * np.radians(self.bmaj) * np.radians(self.bmin) / (4 * np.log(2))

    def pixel_covariance(self, wcs) -> np.ndarray:
        """Return the beam's 2x2 covariance in pixel units on ``wcs``'s grid.

        Parameters
        ----------
        wcs : astropy.wcs.WCS
            Celestial WCS of the image.

        Returns
        -------
        numpy.ndarray, shape (2, 2), float64
            Covariance of (x, y) pixel offsets, pixels squared.
        """
        m = np.asarray(wcs.celestial.pixel_scale_matrix, float)  # deg / pixel
        minv = np.linalg.inv(m)
        return minv @ covariance_from_axes(self.bmaj, self.bmin, self.bpa) @ minv.T

    def pixel_quadratic(self, wcs) -> tuple[float, float, float]:
        """Return ``(a, b, c)`` with beam(dx, dy) = exp(-(a dx² + 2 b dx dy + c dy²)/2).

        Parameters
        ----------
        wcs : astropy.wcs.WCS
            Celestial WCS of the image.

        Returns
        -------
        tuple of float
        """
        inv = np.linalg.inv(self.pixel_covariance(wcs))
        return float(inv[0, 0]), float(inv[0, 1]), float(inv[1, 1])

    def fwhm_pixels(self, wcs) -> float:
        """Return the major-axis FWHM in pixels (the largest extent on the grid)."""
        lam = np.linalg.eigvalsh(self.pixel_covariance(wcs))
        return float(np.sqrt(lam.max()) / FWHM_TO_SIGMA)

    def minor_fwhm_pixels(self, wcs) -> float:
        """Return the minor-axis FWHM in pixels."""
        lam = np.linalg.eigvalsh(self.pixel_covariance(wcs))
        return float(np.sqrt(lam.min()) / FWHM_TO_SIGMA)
