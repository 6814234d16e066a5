"""Dask wrappers: forced photometry over a stack of images (one chunk per image).

A thin :func:`dask.array.map_blocks` layer over the NumPy/Numba functions: each
block is one image of a ``(image, y, x)`` stack on a common grid (e.g. the
epochs of one field), and the output is ``(image, source, 3)``: flux, error
and local rms at fixed positions — the raw material of light curves.
"""

from __future__ import annotations

import numpy as np

from dsa110._compat.array_api import get_array_namespace, to_numpy
from dsa110.errors import ConfigurationError

__all__ = ["forced_photometry_stack"]


def _block(block, x, y, qa, qb, qc, fwhm, box_fwhm, group_fwhm, noise):
    """Measure each image of an (image, y, x) block at pixel positions."""
    from dsa110.photometry import kernels
    from dsa110.photometry.background import estimate_background
    from dsa110.photometry.forced import (
        correlation_table,
        group_positions,
        variance_table,
    )

    xp = get_array_namespace(block)
    if xp is not np:  # no GPU kernel for this stage: measure on the host
        block = to_numpy(block)
    ny, nx = block.shape[1:]
    labels = group_positions(x, y, group_fwhm * fwhm)
    order = np.argsort(labels, kind="stable")
    slab = labels[order]
    starts = np.flatnonzero(np.r_[True, slab[1:] != slab[:-1]])
    group_start = np.r_[starts, slab.size].astype(np.int64)
    half = int(np.ceil(box_fwhm * fwhm))
    xs, ys = x[order], y[order]
    box = np.column_stack(
        [
            np.clip(np.rint(np.minimum.reduceat(xs, starts)).astype(int) - half, 0, nx),
            np.clip(
                np.rint(np.maximum.reduceat(xs, starts)).astype(int) + half + 1, 0, nx
            ),
            np.clip(np.rint(np.minimum.reduceat(ys, starts)).astype(int) - half, 0, ny),
            np.clip(
                np.rint(np.maximum.reduceat(ys, starts)).astype(int) + half + 1, 0, ny
            ),
        ]
    ).astype(np.int64)
    corr = correlation_table(
        qa,
        qb,
        qc,
        int((box[:, 1] - box[:, 0]).max()),
        int((box[:, 3] - box[:, 2]).max()),
        noise=noise,
    )
    vtab = variance_table(qa, qb, qc, half, corr)
    out = np.full((block.shape[0], x.size, 3), np.nan)
    for i, img in enumerate(block):
        img = np.ascontiguousarray(img, dtype=img.dtype.newbyteorder("="))
        grid = estimate_background(img, beam_fwhm_pix=fwhm)
        bkg, rms = grid.at(xs, ys)
        flux, err, _, _ = kernels.forced_fit_groups(
            img,
            xs,
            ys,
            bkg,
            rms,
            group_start,
            box,
            corr,
            qa=qa,
            qb=qb,
            qc=qc,
            vtab=vtab,
            half=half,
        )
        out[i, order, 0] = flux
        out[i, order, 1] = err
        out[i, order, 2] = rms
    return out


def forced_photometry_stack(
    cube, ra, dec, *, wcs, beam, box_fwhm=1.0, group_fwhm=2.0, noise="beam"
):
    """Measure fixed positions in every image of a dask stack (forced photometry).

    Parameters
    ----------
    cube : dask.array.Array, shape (image, y, x), float32 or float64
        Images on one grid (Jy/beam), chunked along ``image`` only.
    ra, dec : numpy.ndarray, shape (source,), float64
        Positions, degrees; all must fall on the grid.
    wcs : astropy.wcs.WCS, keyword-only
        The common celestial WCS.
    beam : Beam, keyword-only
        The common restoring beam.
    box_fwhm, group_fwhm : float, keyword-only
        As in :func:`~dsa110.photometry.forced.forced_photometry`.
    noise : {"beam", "white"}, keyword-only
        Noise-correlation model of the errors.

    Returns
    -------
    dask.array.Array, shape (image, source, 3), float64
        Flux (Jy), its error and the local rms (Jy/beam) per image and source.

    Raises
    ------
    ValueError
        When ``cube`` is chunked along ``y`` or ``x``, or a position is off the grid.
    """
    import dask.array as da  # deferred: dask is heavy

    if cube.ndim != 3:
        raise ValueError(f"cube must be (image, y, x), got {cube.ndim} dims")
    if len(cube.chunks[1]) != 1 or len(cube.chunks[2]) != 1:
        raise ValueError(
            "chunk the stack along the image axis only (one chunk spans y and x)"
        )
    x, y = wcs.world_to_pixel_values(np.asarray(ra, float), np.asarray(dec, float))
    x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
    ny, nx = cube.shape[1:]
    if not np.all((x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)):
        raise ValueError("some positions are off the image grid")
    if noise not in ("beam", "white"):
        raise ConfigurationError(f"noise must be 'beam' or 'white', got {noise!r}")
    qa, qb, qc = beam.pixel_quadratic(wcs)
    fwhm = beam.fwhm_pixels(wcs)
    return da.map_blocks(
        _block,
        cube,
        x,
        y,
        qa,
        qb,
        qc,
        fwhm,
        box_fwhm,
        group_fwhm,
        noise,
        dtype=np.float64,
        drop_axis=[1, 2],
        new_axis=[1, 2],
        chunks=(cube.chunks[0], (x.size,), (3,)),
    )
