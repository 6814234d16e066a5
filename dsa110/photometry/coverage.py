"""Sky coverage of images and of a survey, with depth, on HEALPix (nested) pixels.

An image covers a HEALPix pixel when the pixel's centre falls on a finite
image pixel; the pixel's depth is the image rms there. A survey's coverage is
the union over images, with the number of images, the best (lowest) rms and
the inverse-variance combined rms 1/sqrt(Σ 1/rms²) per HEALPix pixel.
Uses ``astropy-healpix``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dsa110._compat.optional import import_optional

__all__ = ["image_coverage", "SurveyCoverage", "DEFAULT_NSIDE"]

#: Default HEALPix resolution (≈3.4′ pixels, well below a DSA-110 image's 2–4°).
DEFAULT_NSIDE = 1024


def _healpix(nside):
    ahp = import_optional("astropy_healpix", purpose="sky coverage maps")
    return ahp.HEALPix(nside=nside, order="nested")


def image_coverage(image, *, nside=DEFAULT_NSIDE, rms=None) -> pd.DataFrame:
    """HEALPix pixels covered by an image, with the image rms in each.

    Parameters
    ----------
    image : Image
        The image (finite pixels count as covered).
    nside : int, keyword-only
        HEALPix resolution (power of two).
    rms : numpy.ndarray, shape (y, x), or BackgroundGrid, keyword-only
        Noise map (default: estimated from the image).

    Returns
    -------
    pandas.DataFrame
        ``ipix`` (nested, int64) and ``rms`` (Jy/beam, float64).
    """
    import astropy.units as u  # deferred: astropy is heavy

    from dsa110.photometry.background import BackgroundGrid, estimate_background

    hp = _healpix(nside)
    ny, nx = image.shape
    wcs = image.wcs
    cx, cy = (nx - 1) / 2, (ny - 1) / 2
    ra0, dec0 = wcs.pixel_to_world_values(cx, cy)
    corners = np.array([[0, 0], [nx - 1, 0], [0, ny - 1], [nx - 1, ny - 1]], float)
    cra, cdec = wcs.pixel_to_world_values(corners[:, 0], corners[:, 1])
    from dsa110.catalogs.store import angular_separation  # deferred: optional coupling

    radius = float(
        np.max(angular_separation(ra0, dec0, cra, cdec))
    ) + 2 * hp.pixel_resolution.to_value(u.deg)
    ipix = hp.cone_search_lonlat(
        float(ra0) * u.deg, float(dec0) * u.deg, radius * u.deg
    )
    lon, lat = hp.healpix_to_lonlat(ipix)
    x, y = wcs.world_to_pixel_values(lon.to_value(u.deg), lat.to_value(u.deg))
    xi, yi = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    ok = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    ipix, xi, yi = ipix[ok], xi[ok], yi[ok]
    ok = np.isfinite(np.asarray(image.data)[yi, xi])
    ipix, xi, yi = ipix[ok], xi[ok], yi[ok]
    if rms is None:
        rms = estimate_background(image.data, beam_fwhm_pix=image.beam.fwhm_pixels(wcs))
    if isinstance(rms, BackgroundGrid):
        depth = rms.at(xi, yi)[1]
    else:
        depth = np.asarray(rms, float)[yi, xi]
    return pd.DataFrame({"ipix": ipix.astype(np.int64), "rms": depth.astype(float)})


class SurveyCoverage:
    """Coverage of many images: which images cover a position, and survey depth.

    Parameters
    ----------
    nside : int
        HEALPix resolution.
    """

    def __init__(self, nside=DEFAULT_NSIDE):
        self.nside = int(nside)
        self._table = pd.DataFrame(
            {
                "image": pd.Series([], dtype=str),
                "ipix": pd.Series([], dtype=np.int64),
                "rms": pd.Series([], dtype=float),
            }
        )

    @property
    def table(self) -> pd.DataFrame:
        """``image``, ``ipix``, ``rms`` rows (one per image and covered pixel)."""
        return self._table

    def add(
        self,
        image_id: str,
        image=None,
        *,
        coverage: pd.DataFrame | None = None,
        rms=None,
    ):
        """Add an image (or its precomputed :func:`image_coverage`)."""
        if coverage is None:
            coverage = image_coverage(image, nside=self.nside, rms=rms)
        part = coverage.assign(image=str(image_id))[["image", "ipix", "rms"]]
        self._table = pd.concat(
            [self._table[self._table.image != str(image_id)], part], ignore_index=True
        )

    def images_covering(self, ra, dec) -> list[str]:
        """Ids of the images that cover ``(ra, dec)`` (degrees)."""
        import astropy.units as u  # deferred: astropy is heavy

        ip = int(_healpix(self.nside).lonlat_to_healpix(ra * u.deg, dec * u.deg))
        return sorted(self._table.loc[self._table.ipix == ip, "image"].unique())

    def depth(self) -> pd.DataFrame:
        """Per HEALPix pixel: ``n_images``, ``best_rms``, ``combined_rms``."""
        t = self._table.assign(ivar=1.0 / self._table.rms**2)
        g = t.groupby("ipix")
        out = pd.DataFrame(
            {
                "n_images": g.size(),
                "best_rms": g.rms.min(),
                "combined_rms": 1.0 / np.sqrt(g.ivar.sum()),
            }
        )
        return out.reset_index()

    def area_deg2(self) -> float:
        """Area covered by at least one image, square degrees."""
        import astropy.units as u  # deferred: astropy is heavy

        pix_area = _healpix(self.nside).pixel_area.to_value(u.deg**2)
        return float(self._table.ipix.nunique() * pix_area)

    def write(self, path):
        """Save as Parquet (written to a temporary name, then renamed)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        self._table.assign(nside=self.nside).to_parquet(tmp, index=False)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path):
        """Load a coverage saved by :meth:`write`."""
        t = pd.read_parquet(path)
        cov = cls(int(t.nside.iloc[0]) if len(t) else DEFAULT_NSIDE)
        cov._table = t.drop(columns="nside")
        return cov
