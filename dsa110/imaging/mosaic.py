"""Image-domain linear mosaics of consecutive tiles.

``M = Σ_i w_i I_i / Σ_i w_i`` with ``w_i = B_i² / σ_i²`` (PB-corrected images
``I_i``, primary beams ``B_i``, image noise ``σ_i``); the mosaic's noise is
``1 / sqrt(Σ_i w_i)``. Tiles are regridded with ``reproject`` onto one SIN
projection chosen by ``reproject.mosaicking.find_optimal_celestial_wcs`` (correct
across RA 0/360), the images by bicubic interpolation: at 2.5–3 pixels across
the beam (the tiles' 6″ cells) bilinear interpolation smooths a compact source,
lowering its peak by 8–13 % and its beam-shaped fit by 4 %; bicubic keeps both
within 1 %.
"""

from __future__ import annotations

import numpy as np

from dsa110._compat.optional import import_optional
from dsa110.errors import DSA110Error

__all__ = ["MosaicError", "linear_mosaic", "mosaic_fits"]


class MosaicError(DSA110Error, ValueError):
    """Images that cannot be mosaicked (no overlap, missing beam or noise...)."""


def linear_mosaic(
    images, beams, wcs_list, noises, *, wcs_out=None, shape_out=None, pb_limit=0.2
):
    """Inverse-variance × PB² weighted linear mosaic.

    Parameters
    ----------
    images : list of numpy.ndarray
        ``(y, x)`` PB-corrected images as stored in FITS (NaN = blank).
    beams : list of numpy.ndarray
        ``(y, x)`` primary beams of the same shape as each image.
    wcs_list : list of astropy.wcs.WCS
        Celestial WCS of each image.
    noises : list of float
        Image noise σ of each tile (Jy/beam, before PB correction).
    wcs_out, shape_out : keyword-only
        Output grid (default: the optimal SIN grid covering all tiles).
    pb_limit : float, keyword-only
        Pixels where a tile's beam is below this get no weight from it.

    Returns
    -------
    mosaic, weight, noise : numpy.ndarray
        ``(y, x)``: the mosaic (NaN where uncovered), ``Σ w`` and the noise map.
    wcs_out : astropy.wcs.WCS
    """
    reproject = import_optional("reproject", purpose="mosaicking")
    from reproject.mosaicking import find_optimal_celestial_wcs

    if not (len(images) == len(beams) == len(wcs_list) == len(noises)) or not images:
        raise MosaicError(
            "images, beams, WCSs and noises must be non-empty lists of one length"
        )
    if wcs_out is None:
        wcs_out, shape_out = find_optimal_celestial_wcs(
            [(np.nan_to_num(b), w) for b, w in zip(beams, wcs_list)], projection="SIN"
        )
    num = np.zeros(shape_out)
    den = np.zeros(shape_out)
    for img, beam, wcs, sigma in zip(images, beams, wcs_list, noises):
        if not sigma > 0:
            raise MosaicError(f"noise {sigma!r} must be positive")
        img_r, _ = reproject.reproject_interp(
            (np.asarray(img, np.float64), wcs),
            wcs_out,
            shape_out=shape_out,
            order="bicubic",
        )
        pb_r, _ = reproject.reproject_interp(
            (np.asarray(beam, np.float64), wcs), wcs_out, shape_out=shape_out
        )
        ok = np.isfinite(img_r) & np.isfinite(pb_r) & (pb_r >= pb_limit)
        w = np.where(ok, np.nan_to_num(pb_r) ** 2 / sigma**2, 0.0)
        num += w * np.where(ok, img_r, 0.0)
        den += w
    covered = den > 0
    mosaic = np.full(shape_out, np.nan)
    mosaic[covered] = num[covered] / den[covered]
    noise = np.full(shape_out, np.nan)
    noise[covered] = 1.0 / np.sqrt(den[covered])
    return mosaic, den, noise, wcs_out


def _beam_path(path):
    name = str(path)
    for suffix in ("-image-pb.fits", "-image.fits"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + "-pb.fits"
    raise MosaicError(
        f"{path}: expected a PREFIX-image-pb.fits file written by dsa110 image"
    )


def mosaic_fits(paths, out, *, pb_limit=0.2, overwrite=True):
    """Mosaic ``PREFIX-image-pb.fits`` files (with their ``PREFIX-pb.fits`` beams).

    Writes ``OUT.fits`` (the mosaic), ``OUT-weight.fits`` and ``OUT-noise.fits``.

    Parameters
    ----------
    paths : list of str
        The PB-corrected images; the noise is the header's ``NOISE`` (or the robust σ
        of the image times its beam).
    out : str
        Output prefix (a trailing ``.fits`` is removed).
    pb_limit : float, keyword-only
        In (0, 1).
    overwrite : bool, keyword-only
        Replace existing outputs; otherwise, when any exists, write none.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    MosaicError
        For a ``pb_limit`` outside (0, 1) or an output that is one of the inputs
        (or their beams), before anything is read.
    OutputExistsError
        Without ``overwrite``, when an output exists.
    """
    from pathlib import Path

    from astropy.io import fits
    from astropy.wcs import WCS

    from dsa110.errors import FileFormatError
    from dsa110.imaging.clean import mad_sigma
    from dsa110.imaging.fits import write_fits_image
    from dsa110.io.atomic import refuse_existing

    if not 0 < pb_limit < 1:
        raise MosaicError(f"pb_limit={pb_limit!r}: must lie in (0, 1)")
    out = str(out)
    if out.endswith(".fits"):
        out = out[: -len(".fits")]
    outputs = {name: Path(f"{out}{name}.fits") for name in ("", "-weight", "-noise")}
    inputs = {Path(p).resolve() for p in paths} | {
        Path(_beam_path(p)).resolve() for p in paths
    }
    clash = [str(p) for p in outputs.values() if p.resolve() in inputs]
    if clash:
        raise MosaicError(f"{', '.join(clash)}: the output would overwrite an input")
    if not overwrite:
        refuse_existing(outputs.values())
    images, beams, wcss, noises, headers = [], [], [], [], []
    for path in paths:
        try:
            with fits.open(path) as hdul:
                header = hdul[0].header.copy()
                img = np.asarray(hdul[0].data, np.float64).reshape(
                    hdul[0].data.shape[-2:]
                )
            with fits.open(_beam_path(path)) as hdul:
                beam = np.asarray(hdul[0].data, np.float64).reshape(
                    hdul[0].data.shape[-2:]
                )
        except OSError as exc:
            raise FileFormatError(path, f"cannot read ({exc})") from None
        images.append(img)
        beams.append(beam)
        wcss.append(WCS(header).celestial)
        headers.append(header)
        sigma = header.get("NOISE")
        if sigma is None:
            sigma = mad_sigma(np.nan_to_num(img * beam))
        noises.append(float(sigma))
    mosaic, weight, noise, wcs_out = linear_mosaic(
        images, beams, wcss, noises, pb_limit=pb_limit
    )
    base = headers[0]
    result = {}
    for name, data, unit in (
        ("", mosaic, base.get("BUNIT", "JY/BEAM")),
        ("-weight", weight, ""),
        ("-noise", noise, base.get("BUNIT", "JY/BEAM")),
    ):
        header = wcs_out.to_header()
        for key in ("BMAJ", "BMIN", "BPA", "TELESCOP", "DATE-OBS", "MJD-OBS"):
            if key in base:
                header[key] = base[key]
        header["BUNIT"] = unit
        header.add_history(
            f"dsa110 linear mosaic of {len(paths)} images, pb_limit={pb_limit}"
        )
        for p in paths:
            header.add_history(f"input: {p}")
        # write_fits_image expects (l, m) images: convert from (y, x) storage
        from dsa110.imaging.fits import from_fits_array

        result[name or "mosaic"] = write_fits_image(
            outputs[name], from_fits_array(data), header, overwrite=overwrite
        )
    return result
