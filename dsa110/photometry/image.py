"""Images for measurement: a 2-D array in Jy/beam, its celestial WCS and its beam."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsa110.errors import FileFormatError
from dsa110.photometry.beam import Beam

__all__ = ["Image", "read_image", "read_primary_beam", "write_image"]


@dataclass
class Image:
    """A restored radio image.

    Parameters
    ----------
    data : numpy.ndarray, shape (y, x), float32 or float64
        Brightness in Jy/beam; NaN marks blanked pixels.
    wcs : astropy.wcs.WCS
        Celestial (2-D) WCS; pixel (x, y) = (column, row), 0-based.
    beam : Beam
        Restoring beam.
    frequency : float, optional
        Centre frequency in Hz (NaN when unknown).
    meta : dict
        Free-form metadata (e.g. the source file name).
    """

    data: np.ndarray
    wcs: object
    beam: Beam
    frequency: float = float("nan")
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """The (y, x) shape of the image."""
        return self.data.shape

    def header(self):
        """Return a FITS header with the WCS, the beam and the frequency."""
        hdr = self.wcs.to_header()
        hdr["BMAJ"] = self.beam.bmaj
        hdr["BMIN"] = self.beam.bmin
        hdr["BPA"] = self.beam.bpa
        hdr["BUNIT"] = "JY/BEAM"
        if np.isfinite(self.frequency):
            hdr["RESTFRQ"] = self.frequency
        return hdr


#: Units of an image :func:`read_image` measures, and their factor to Jy/beam.
_PER_BEAM = {"jy/beam": 1.0, "mjy/beam": 1e-3, "ujy/beam": 1e-6, "µjy/beam": 1e-6}


def _jy_per_beam(hdr, path) -> float:
    """Return the factor from the image's ``BUNIT`` to Jy/beam.

    An image in Jy/pixel, a brightness temperature, ... was measured as if
    in Jy/beam.
    """
    unit = str(hdr.get("BUNIT", "")).strip()
    if not unit:
        return 1.0
    key = unit.replace(" ", "")
    # "MJy" is mega-: FITS units are case-sensitive there ("JY/BEAM" is common)
    if key.lower() in _PER_BEAM and not key.startswith("M"):
        return _PER_BEAM[key.lower()]
    raise FileFormatError(
        path,
        f"BUNIT {unit!r}: photometry needs an image in Jy/beam (or mJy/µJy per beam)",
        field="BUNIT",
    )


def _primary_image(path: Path):
    """Read the primary HDU's header and image, degenerate axes dropped.

    Raises
    ------
    FileFormatError
        When the file is not FITS or its primary HDU holds no image.
    """
    from astropy.io import fits  # deferred: keep the package import light

    try:
        with fits.open(path) as hdul:
            hdr = hdul[0].header.copy()
            data = hdul[0].data
    except (OSError, ValueError) as exc:
        raise FileFormatError(path, f"cannot read as FITS: {exc}") from exc
    if data is None or data.ndim < 2:
        raise FileFormatError(path, "primary HDU holds no image", field="NAXIS")
    return hdr, np.squeeze(data)


def read_image(path) -> Image:
    """Read a FITS image (degenerate frequency/Stokes axes are dropped).

    Parameters
    ----------
    path : str or os.PathLike
        FITS file with the image in the primary HDU.

    Returns
    -------
    Image

    Raises
    ------
    FileFormatError
        When the file is not a FITS image, has more than two non-degenerate
        axes, lacks a celestial WCS or a restoring beam, or its ``BUNIT`` is
        not a flux density per beam (Jy/beam, mJy/beam or µJy/beam, converted
        to Jy/beam; none: taken as Jy/beam).
    """
    from astropy.wcs import WCS  # deferred: keep the package import light

    path = Path(path)
    hdr, data = _primary_image(path)
    scale = _jy_per_beam(hdr, path)
    if data.ndim != 2:
        raise FileFormatError(
            path, f"image has {data.ndim} non-degenerate axes, need 2"
        )
    wcs = WCS(hdr).celestial
    if wcs.naxis != 2:
        raise FileFormatError(path, "no celestial WCS", field="CTYPE")
    freq = float("nan")
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if key in hdr:
            freq = float(hdr[key])
            break
    else:
        for ax in range(1, hdr.get("NAXIS", 0) + 1):
            if str(hdr.get(f"CTYPE{ax}", "")).startswith("FREQ"):
                freq = float(hdr[f"CRVAL{ax}"])
    beam = Beam.from_header(hdr, path=str(path))
    data = np.asarray(data)
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    if scale != 1.0:
        data = data * data.dtype.type(scale)
    # FITS is big-endian; the kernels want native byte order
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("="))
    return Image(data, wcs, beam, freq, {"path": str(path)})


def read_primary_beam(path, shape) -> np.ndarray:
    """Read a primary-beam FITS image as a ``(y, x)`` array of an image's shape.

    Parameters
    ----------
    path : str or os.PathLike
        FITS file (e.g. the imaging's ``PREFIX-pb.fits``); degenerate axes dropped.
    shape : tuple of int
        ``(y, x)`` shape of the image the beam belongs to.

    Returns
    -------
    numpy.ndarray, float64

    Raises
    ------
    FileFormatError
        When the file is not FITS or its beam is not of ``shape``.
    """
    path = Path(path)
    _, data = _primary_image(path)
    data = np.asarray(data, np.float64)
    if data.shape != tuple(shape):
        raise FileFormatError(
            path, f"primary beam of shape {data.shape}, image {tuple(shape)}"
        )
    return data


def write_image(image: Image, path, *, overwrite: bool = False) -> Path:
    """Write an :class:`Image` to FITS (via a temporary name, renamed into place).

    Parameters
    ----------
    image : Image
        The image.
    path : str or os.PathLike
        Output file.
    overwrite : bool, keyword-only
        Replace an existing file.

    Returns
    -------
    pathlib.Path
    """
    from astropy.io import fits  # deferred: keep the package import light

    from dsa110.errors import OutputExistsError

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True")
    tmp = path.with_name(path.name + ".tmp")
    fits.PrimaryHDU(np.asarray(image.data), header=image.header()).writeto(
        tmp, overwrite=True
    )
    os.replace(tmp, path)
    return path
