"""FITS image products (SIN projection, frequency and Stokes axes) and PNG quicklooks.

Images in memory are ``(l, m)`` arrays with ``l`` toward east; FITS stores
``(STOKES, FREQ, DEC, RA)`` with RA increasing to the left (``CDELT1 < 0``), as
CASA, WSClean and ds9 expect. Files are written to a temporary name and renamed
into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from dsa110.errors import FileFormatError
from dsa110.imaging.beam import Beam

__all__ = [
    "image_header",
    "write_fits_image",
    "read_fits_image",
    "write_png_quicklook",
    "to_fits_array",
    "from_fits_array",
]


def to_fits_array(image):
    """``(l, m)`` image → ``(DEC, RA)`` array with RA increasing to the left."""
    return np.ascontiguousarray(np.asarray(image)[::-1, :].T)


def from_fits_array(data):
    """``(DEC, RA)`` FITS plane → ``(l, m)`` image (inverse of :func:`to_fits_array`)."""
    return np.ascontiguousarray(np.asarray(data).T[::-1, :])


def image_header(
    *,
    npix,
    cell_arcsec,
    centre,
    ref_frequency,
    bandwidth,
    beam=None,
    bunit="JY/BEAM",
    date_obs=None,
    telescope="DSA-110",
    history=(),
    object_name=None,
):
    """A FITS header for an ``(npix, npix)`` image.

    Parameters
    ----------
    npix : int, keyword-only
    cell_arcsec : float, keyword-only
    centre : (float, float), keyword-only
        Phase centre (ra, dec), radians.
    ref_frequency, bandwidth : float, keyword-only
        Hz.
    beam : Beam, keyword-only
        Restoring beam (BMAJ/BMIN/BPA).
    bunit : str, keyword-only
    date_obs : str, keyword-only
        ISO UTC start of the observation.
    telescope : str, keyword-only
    history : iterable of str, keyword-only
    object_name : str, keyword-only

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    from dsa110.telescope import default_site

    h = fits.Header()
    h["NAXIS"] = 4
    cell = cell_arcsec / 3600.0
    ra, dec = np.degrees(centre[0]) % 360.0, np.degrees(centre[1])
    axes = [
        ("RA---SIN", ra, -cell, npix // 2, "deg"),
        ("DEC--SIN", dec, cell, npix // 2 + 1, "deg"),
        ("FREQ", float(ref_frequency), float(bandwidth), 1, "Hz"),
        ("STOKES", 1.0, 1.0, 1, ""),
    ]
    for i, (ctype, crval, cdelt, crpix, cunit) in enumerate(axes, start=1):
        h[f"CTYPE{i}"] = ctype
        h[f"CRVAL{i}"] = crval
        h[f"CDELT{i}"] = cdelt
        h[f"CRPIX{i}"] = float(crpix)
        h[f"CUNIT{i}"] = cunit
    h["RADESYS"] = "ICRS"
    h["EQUINOX"] = 2000.0
    h["LONPOLE"] = 180.0
    h["SPECSYS"] = "TOPOCENT"
    h["RESTFRQ"] = float(ref_frequency)
    h["BUNIT"] = bunit
    if beam is not None:
        h["BMAJ"] = beam.bmaj / 3600.0
        h["BMIN"] = beam.bmin / 3600.0
        h["BPA"] = beam.bpa
    h["TELESCOP"] = telescope
    h["INSTRUME"] = "DSA"
    h["OBSRA"] = ra
    h["OBSDEC"] = dec
    if object_name:
        h["OBJECT"] = object_name
    if date_obs:
        from astropy.time import Time

        h["DATE-OBS"] = date_obs
        h["MJD-OBS"] = float(Time(date_obs, scale="utc").mjd)
        h["TIMESYS"] = "UTC"
    site = default_site()
    xyz = _site_xyz(site)
    h["OBSGEO-X"], h["OBSGEO-Y"], h["OBSGEO-Z"] = xyz
    h["OBSGEO-L"], h["OBSGEO-B"], h["OBSGEO-H"] = _wcslib_geodetic(h)
    h["ORIGIN"] = "dsa110"
    for line in history:
        h.add_history(str(line))
    return h


def _site_xyz(site):
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    loc = EarthLocation.from_geodetic(
        site.longitude_rad * u.rad, site.latitude_rad * u.rad, site.height_m * u.m
    )
    return tuple(float(v) for v in loc.to_value(u.m))


def _wcslib_geodetic(header):
    """``OBSGEO-L/B/H`` as WCSLIB derives them from the header's ``OBSGEO-X/Y/Z``.

    A header with one triple only has the other filled in by WCSLIB on every
    read, and one whose triples differ by more than WCSLIB's tolerance (its
    geodetic conversion and astropy's differ by 3 m in height at OVRO) is
    "fixed": either way astropy warns (``FITSFixedWarning: 'obsfix'``) each
    time the file is opened. Writing WCSLIB's own values avoids both.
    """
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        geodetic = WCS(header).wcs.obsgeo[3:6]
    if not np.all(np.isfinite(geodetic)):
        raise ValueError("WCSLIB derived no geodetic position from OBSGEO-X/Y/Z")
    return tuple(float(v) for v in geodetic)


def write_fits_image(path, image, header, *, overwrite=True):
    """Write an ``(l, m)`` image with its header, atomically.

    Parameters
    ----------
    path : str or Path
    image : numpy.ndarray
        ``(l, m)``.
    header : astropy.io.fits.Header
        From :func:`image_header`.
    overwrite : bool, keyword-only

    Returns
    -------
    Path
    """
    from astropy.io import fits

    path = Path(path)
    if path.exists() and not overwrite:
        from dsa110.errors import OutputExistsError

        raise OutputExistsError(f"{path}: exists (pass overwrite=True)")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = to_fits_array(image).astype(np.float32)[None, None]
    hdu = fits.PrimaryHDU(data=data, header=header)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or "."
    )
    os.close(fd)
    try:
        hdu.writeto(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_fits_image(path):
    """Read an image written by :func:`write_fits_image`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    image : numpy.ndarray
        ``(l, m)`` float array.
    header : astropy.io.fits.Header

    Raises
    ------
    FileFormatError
        When the file is not a 2-D (plus degenerate axes) SIN image.
    """
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            header = hdul[0].header.copy()
            data = np.asarray(hdul[0].data)
    except OSError as exc:
        raise FileFormatError(path, f"not a FITS file ({exc})") from None
    if data is None or data.ndim < 2:
        raise FileFormatError(path, "no image data", field="NAXIS")
    data = data.reshape(data.shape[-2:]) if np.prod(data.shape[:-2]) == 1 else None
    if data is None:
        raise FileFormatError(
            path, "only one frequency and Stokes plane is supported", field="NAXIS3"
        )
    return from_fits_array(data), header


#: Pixels a side a quicklook shows at most (its axes are ~550 screen pixels wide).
QUICKLOOK_PIXELS = 1200


def _quicklook_pixels(data):
    """Average ``data`` in square blocks to at most :data:`QUICKLOOK_PIXELS` a side.

    Matplotlib averages an image down to the screen's pixels anyway (antialiasing);
    averaging it first makes that 4–16 times cheaper. Returns the array to show
    and its ``extent`` in the original pixels (the WCS axes and the beam ellipse
    stay in those). NaN pixels (beyond the primary-beam limit) are left out of
    their block's mean; a block of NaNs stays NaN.
    """
    ny, nx = data.shape
    f = -(-max(ny, nx) // QUICKLOOK_PIXELS)
    if f > 1:
        by, bx = -(-ny // f), -(-nx // f)
        padded = np.full((by * f, bx * f), np.nan, dtype=np.float32)
        padded[:ny, :nx] = data
        blocks = padded.reshape(by, f, bx, f)
        counts = np.isfinite(blocks).sum(axis=(1, 3))
        sums = np.nansum(blocks, axis=(1, 3))
        data = np.divide(
            sums, counts, out=np.full(sums.shape, np.nan, np.float32), where=counts > 0
        )
        ny, nx = by * f, bx * f
    return data, (-0.5, nx - 0.5, -0.5, ny - 0.5)


def write_png_quicklook(path, image, header, *, title=None, vmin=None, vmax=None):
    """A PNG quicklook: sky coordinates, colour bar and the restoring beam.

    Parameters
    ----------
    path : str or Path
    image : numpy.ndarray
        ``(l, m)`` image.
    header : astropy.io.fits.Header
        Its FITS header (for the coordinates and the beam).
    title : str, keyword-only
    vmin, vmax : float, keyword-only
        Colour range (default: −3σ … 99.9th percentile).

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")  # deferred: matplotlib is only needed for quicklooks
    import matplotlib.pyplot as plt
    from astropy.wcs import WCS
    from matplotlib.patches import Ellipse

    from dsa110.imaging.clean import mad_sigma

    path = Path(path)
    data = to_fits_array(image)
    # the colour range from a quarter of the pixels (every other row and column):
    # plenty for a median and a 99.9th percentile
    sample = data[::2, ::2]
    finite = np.isfinite(sample)
    sigma = mad_sigma(sample[finite]) if finite.any() else 1.0
    if vmin is None:
        vmin = -3 * sigma
    if vmax is None:
        vmax = float(np.nanpercentile(sample, 99.9)) if finite.any() else 1.0
        vmax = max(vmax, vmin + 1e-12)
    wcs = WCS(header).celestial
    fig = plt.figure(figsize=(8, 7), dpi=100)
    ax = fig.add_subplot(projection=wcs)
    shown, extent = _quicklook_pixels(data)
    im = ax.imshow(
        shown, origin="lower", cmap="inferno", vmin=vmin, vmax=vmax, extent=extent
    )
    ax.coords.grid(color="white", alpha=0.3, ls=":")
    ax.set_xlabel("RA (ICRS)")
    ax.set_ylabel("Dec (ICRS)")
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.set_label(header.get("BUNIT", ""))
    if "BMAJ" in header:
        cell = abs(header["CDELT2"])
        w, h = header["BMIN"] / cell, header["BMAJ"] / cell
        x0, y0 = 0.08 * data.shape[1], 0.08 * data.shape[0]
        # BPA is from north through east; east is to the left (−x)
        ax.add_patch(
            Ellipse(
                (x0, y0),
                max(w, 1.0),
                max(h, 1.0),
                angle=header["BPA"],
                edgecolor="cyan",
                facecolor="none",
                lw=1.5,
            )
        )
    ax.set_title(title or f"{header.get('TELESCOP', '')} {header.get('DATE-OBS', '')}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".png", dir=path.parent or "."
    )
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


#: The FITS products of one image, by name: ``PREFIX-{name}.fits``.
PRODUCT_NAMES = ("image", "image-pb", "residual", "model", "psf", "pb")


def product_paths(prefix, *, png=True):
    """The files :func:`write_products` writes for ``prefix``.

    Parameters
    ----------
    prefix : str or Path
    png : bool, keyword-only
        Include the quicklook ``PREFIX-image.png``.

    Returns
    -------
    dict of str to Path
        By product name (``"png"`` for the quicklook).
    """
    prefix = str(prefix)
    paths = {name: Path(f"{prefix}-{name}.fits") for name in PRODUCT_NAMES}
    if png:
        paths["png"] = Path(f"{prefix}-image.png")
    return paths


def write_products(products, prefix, *, png=True, overwrite=True):
    """Write an :class:`~dsa110.imaging.modes.ImageProducts` as FITS files (+ PNG).

    Files (:func:`product_paths`): ``PREFIX-image.fits`` (restored),
    ``-image-pb.fits`` (PB-corrected), ``-residual.fits``, ``-model.fits``
    (Jy/pixel), ``-psf.fits``, ``-pb.fits`` and ``PREFIX-image.png``; each
    written under a temporary name and renamed into place.

    Parameters
    ----------
    products : ImageProducts
    prefix : str or Path
    png : bool, keyword-only
    overwrite : bool, keyword-only
        Replace existing files; otherwise, when any of them exists, write none.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    OutputExistsError
        Without ``overwrite``, when any of the files exists.
    """
    paths = product_paths(prefix, png=png)
    if not overwrite:
        from dsa110.io.atomic import refuse_existing

        refuse_existing(paths.values())
    n = products.restored.shape[0]
    history = [f"dsa110 imaging: {k}={v}" for k, v in products.params.items()]
    common = dict(
        npix=n,
        cell_arcsec=products.cell_arcsec,
        centre=products.centre,
        ref_frequency=products.ref_frequency,
        bandwidth=products.bandwidth,
        date_obs=products.date_obs,
        telescope=products.telescope,
        history=history,
    )
    beam = products.beam
    items = {  # in PRODUCT_NAMES' order
        "image": (products.restored, "JY/BEAM", beam),
        "image-pb": (products.pbcor, "JY/BEAM", beam),
        "residual": (products.residual, "JY/BEAM", beam),
        "model": (products.model, "JY/PIXEL", None),
        "psf": (products.psf, "", beam),
        "pb": (products.pb, "", None),
    }
    out = {}
    for name, (img, unit, b) in items.items():
        header = image_header(bunit=unit, beam=b, **common)
        header["NOISE"] = (
            float(products.sigma),
            "robust residual sigma before PB correction",
        )
        out[name] = write_fits_image(paths[name], img, header, overwrite=overwrite)
    if png:
        header = image_header(bunit="JY/BEAM", beam=beam, **common)
        out["png"] = write_png_quicklook(paths["png"], products.pbcor, header)
    return out


__all__ += [
    "PRODUCT_NAMES",
    "product_paths",
    "write_products",
    "Beam",
]
