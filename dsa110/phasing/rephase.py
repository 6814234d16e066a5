"""``rephase``: move every integration of a dataset to one phase centre.

DSA-110's correlator phases each integration to its own meridian; imaging or
calibrating a whole tile needs a common centre. ``rephase`` computes the new
UVW with astropy (:mod:`dsa110.phasing.uvw`), then rotates the visibilities
chunk by chunk with the rephasing kernel (lazy, on dask).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.errors import ConfigurationError
from dsa110.phasing.dask import rephase_visibilities
from dsa110.phasing.uvw import baseline_uvw, uvw_basis
from dsa110.schema import SchemaError
from dsa110.telescope.antennas import Site

__all__ = ["rephase", "resolve_center", "median_meridian", "dataset_site"]


def dataset_site(ds: xr.Dataset) -> Site:
    """The observatory :class:`~dsa110.telescope.Site` recorded in a dataset's attributes.

    Parameters
    ----------
    ds : xarray.Dataset
        A visibility dataset.

    Returns
    -------
    Site
    """
    return Site(
        str(ds.attrs["telescope_name"]),
        float(ds.attrs["site_latitude"]),
        float(ds.attrs["site_longitude"]),
        float(ds.attrs["site_height"]),
    )


def median_meridian(ds: xr.Dataset) -> tuple[float, float]:
    """The tile's central phase centre: circular-mean RA and median Dec.

    Correct across RA 0/360 (the mean of unit vectors on the RA circle).

    Parameters
    ----------
    ds : xarray.Dataset
        A visibility dataset.

    Returns
    -------
    ra, dec : float
        ICRS radians, RA in [0, 2π).
    """
    ra = np.asarray(ds["phase_center_ra"].values, dtype=np.float64)
    dec = np.asarray(ds["phase_center_dec"].values, dtype=np.float64)
    mean_ra = np.arctan2(np.mean(np.sin(ra)), np.mean(np.cos(ra)))
    return float(np.mod(mean_ra, 2 * np.pi)), float(np.median(dec))


def resolve_center(ds: xr.Dataset, center):
    """Turn a ``center`` specification into ICRS (ra, dec) in radians.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset (for ``"median_meridian"``).
    center : SkyCoord, str, or tuple
        An astropy ``SkyCoord``; ``"median_meridian"``; a calibrator name known
        to :func:`dsa110.catalogs.calibrators.get_calibrator`; ``"RA,DEC"`` in
        degrees; or ``(ra, dec)`` in radians (scalars, or ``(time,)`` arrays
        giving each integration its own centre).

    Returns
    -------
    ra, dec : float or numpy.ndarray
        Radians.

    Raises
    ------
    ConfigurationError
        For a string that is neither a known name nor ``RA,DEC``, or an
        ``(ra, dec)`` that is not finite, has a Dec outside ±π/2 (degrees
        passed as radians) or arrays of other than one value per integration.
    """
    if hasattr(center, "icrs"):
        icrs = center.icrs
        return float(icrs.ra.rad), float(icrs.dec.rad)
    if isinstance(center, str):
        if center == "median_meridian":
            return median_meridian(ds)
        if "," in center:
            try:
                ra_deg, dec_deg = (float(x) for x in center.split(","))
            except ValueError:
                raise ConfigurationError(
                    f"center {center!r}: expected 'RA,DEC' in degrees"
                ) from None
            if not (np.isfinite(ra_deg) and -90.0 <= dec_deg <= 90.0):
                raise ConfigurationError(
                    f"center {center!r}: RA must be finite and Dec within ±90°"
                )
            return np.radians(ra_deg), np.radians(dec_deg)
        from dsa110.catalogs.calibrators import get_calibrator

        cal = get_calibrator(center)
        return cal.ra, cal.dec
    try:
        ra, dec = center
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"center {center!r}: not a SkyCoord, name or (ra, dec)"
        ) from None
    return _checked_radians(ra, dec, ds.sizes[schema.TIME])


def _checked_radians(ra, dec, n_time):
    """Check ``(ra, dec)`` radians: finite, |Dec| ≤ π/2, one or ``n_time`` values."""
    try:
        ra = np.asarray(ra, dtype=np.float64)
        dec = np.asarray(dec, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"center ({ra!r}, {dec!r}): ra and dec must be numbers (radians)"
        ) from None
    for name, value in (("ra", ra), ("dec", dec)):
        if value.ndim > 1 or (value.ndim == 1 and value.size != n_time):
            raise ConfigurationError(
                f"center: {name} has shape {value.shape}; expected a scalar or "
                f"one value per integration ({n_time},)"
            )
        bad = ~np.isfinite(value)
        if bad.any():
            raise ConfigurationError(
                f"center: {name} is not finite ({np.ravel(value)[bad.ravel()][0]} "
                f"in {bad.sum()} of {value.size} value(s))"
            )
    if np.any(np.abs(dec) > np.pi / 2):
        raise ConfigurationError(
            f"center: dec {np.max(np.abs(dec)):g} is outside [-pi/2, pi/2]: (ra, dec) "
            "are radians (degrees? give 'RA,DEC' as a string, or numpy.radians)"
        )
    if ra.ndim == 0 and dec.ndim == 0:
        return float(ra), float(dec)
    return ra, dec


def _antenna_indices(ds):
    numbers = np.asarray(ds["antenna_number"].values)
    lookup = {int(n): i for i, n in enumerate(numbers)}
    idx1 = np.array([lookup[int(a)] for a in ds["antenna1"].values])
    idx2 = np.array([lookup[int(a)] for a in ds["antenna2"].values])
    return idx1, idx2


def rephase(ds: xr.Dataset, center) -> xr.Dataset:
    """Rephase (fringe-stop) every integration to a new phase centre.

    ``V' = V · exp(−2πi (w_new − w_old) f / c)`` per baseline, time and channel,
    with ``UVW`` recomputed for the new centre; lazy when the data are dask arrays.

    Parameters
    ----------
    ds : xarray.Dataset
        A visibility dataset (:mod:`dsa110.schema`).
    center : SkyCoord, str or tuple
        See :func:`resolve_center`; a fixed centre, or per-integration arrays.

    Returns
    -------
    xarray.Dataset
        ``VISIBILITY``, ``UVW``, ``phase_center_ra``/``phase_center_dec`` replaced;
        ``attrs["phase_center_type"]`` is ``"fixed"`` for one centre.

    Raises
    ------
    ConfigurationError
        For a ``center`` that :func:`resolve_center` refuses.
    SchemaError
        For a dataset without integrations.

    Notes
    -----
    The phase is evaluated in float64. Flags and weights are unchanged.
    """
    import dask.array as da

    n_time = ds.sizes[schema.TIME]
    if n_time == 0:
        raise SchemaError("rephase: the dataset has no integrations (time axis empty)")
    ra, dec = resolve_center(ds, center)
    ra_t = np.broadcast_to(np.asarray(ra, dtype=np.float64), (n_time,)).copy()
    dec_t = np.broadcast_to(np.asarray(dec, dtype=np.float64), (n_time,)).copy()
    site = dataset_site(ds)
    idx1, idx2 = _antenna_indices(ds)
    times = np.asarray(ds[schema.TIME].values)
    basis = uvw_basis(ra_t, dec_t, times, site)
    uvw_new = baseline_uvw(np.asarray(ds["antenna_position"].values), idx1, idx2, basis)

    vis = ds["VISIBILITY"].data
    old_w = ds["UVW"].data[..., 2]
    if isinstance(vis, da.Array):
        tchunks, bchunks = vis.chunks[:2]
        new_w = da.from_array(uvw_new[..., 2], chunks=(tchunks, bchunks))
        old_w = (
            old_w.rechunk((tchunks, bchunks))
            if isinstance(old_w, da.Array)
            else da.from_array(np.asarray(old_w), chunks=(tchunks, bchunks))
        )
        freq = da.from_array(
            np.asarray(ds[schema.FREQUENCY].values), chunks=(vis.chunks[2],)
        )
        new_vis = rephase_visibilities(vis, new_w - old_w, freq)
    else:
        from dsa110.phasing.kernels import rephase_visibilities as np_rephase

        new_vis = np_rephase(
            np.asarray(vis),
            uvw_new[..., 2] - np.asarray(old_w),
            np.asarray(ds[schema.FREQUENCY].values),
        )
    fixed = bool(np.all(ra_t == ra_t[0]) and np.all(dec_t == dec_t[0]))
    out = ds.assign(
        VISIBILITY=(ds["VISIBILITY"].dims, new_vis, ds["VISIBILITY"].attrs),
        UVW=(ds["UVW"].dims, uvw_new, ds["UVW"].attrs),
    ).assign_coords(
        phase_center_ra=(schema.TIME, ra_t, ds["phase_center_ra"].attrs),
        phase_center_dec=(schema.TIME, dec_t, ds["phase_center_dec"].attrs),
    )
    out.attrs = {
        **ds.attrs,
        "phase_center_type": "fixed" if fixed else "per_integration",
    }
    return out
