"""UVH5 output readable by pyuvdata, streamed one time block at a time.

:func:`write_uvh5` builds a metadata-only :class:`pyuvdata.UVData` describing
the dataset (:func:`to_uvdata`), lets pyuvdata write the header
(``initialize_uvh5_file``) and then writes the data one chunk of integrations at
a time (``write_uvh5_part``), time-major, so memory stays at one chunk. The file
is built under a temporary name and renamed into place.

The dataset's conventions are UVH5's own (see :mod:`dsa110.schema`), so values
are written as they are; each integration's phase centre becomes one sidereal
entry of the phase-centre catalog (one entry for a fixed centre).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dsa110 import schema
from dsa110.io.atomic import atomic_output

__all__ = ["write_uvh5", "to_uvdata"]

_UNIX_JD0 = 2440587.5
_CHUNK_BYTES = 64 * 2**20
_POL_NUMBERS = {v: k for k, v in schema.POLARIZATION_CODES.items()}


def _catalog(ds):
    """Phase-centre catalog and per-time catalog index."""
    ra = np.asarray(ds["phase_center_ra"].values, dtype=np.float64)
    dec = np.asarray(ds["phase_center_dec"].values, dtype=np.float64)
    pairs = np.stack([ra, dec], axis=-1)
    unique, index = np.unique(pairs, axis=0, return_inverse=True)
    catalog = {
        k: {
            "cat_name": f"DSA110_{k:03d}"
            if len(unique) > 1
            else str(ds.attrs.get("phase_center_name", "DSA110")),
            "cat_type": "sidereal",
            "cat_lon": float(lon),
            "cat_lat": float(lat),
            "cat_frame": "icrs",
            "cat_epoch": 2000.0,
        }
        for k, (lon, lat) in enumerate(unique)
    }
    return catalog, np.asarray(index).ravel()


def to_uvdata(ds, *, metadata_only: bool = False):
    """Build a :class:`pyuvdata.UVData` holding the dataset (time-major blts).

    Parameters
    ----------
    ds : xarray.Dataset
        Following :mod:`dsa110.schema`.
    metadata_only : bool, keyword-only
        Leave out the data arrays (for streamed writing).

    Returns
    -------
    pyuvdata.UVData
        ``uvw_array`` is the dataset's UVW (not recomputed by pyuvdata).
    """
    from astropy import units as u  # deferred: heavy imports
    from astropy.coordinates import EarthLocation
    from pyuvdata import Telescope, UVData

    loc = EarthLocation.from_geodetic(
        lon=float(ds.attrs["site_longitude"]) * u.rad,
        lat=float(ds.attrs["site_latitude"]) * u.rad,
        height=float(ds.attrs["site_height"]) * u.m,
    )
    centre = np.array([loc.x.value, loc.y.value, loc.z.value])
    diam = np.asarray(ds["antenna_diameter"].values, dtype=np.float64)
    telescope = Telescope.new(
        name=str(ds.attrs["telescope_name"]),
        location=loc,
        antenna_positions=np.asarray(ds["antenna_position"].values) - centre,
        antenna_names=[str(n) for n in ds[schema.ANTENNA].values],
        antenna_numbers=np.asarray(ds["antenna_number"].values, dtype=int),
        antenna_diameters=diam,
        instrument=str(ds.attrs.get("instrument", "DSA")),
        feeds=["x", "y"],
        mount_type="alt-az",
        update_from_known=False,
    )
    n_time = ds.sizes[schema.TIME]
    n_bl = ds.sizes[schema.BASELINE]
    times_jd = np.asarray(ds[schema.TIME].values) / 86400.0 + _UNIX_JD0
    a1 = np.asarray(ds["antenna1"].values, dtype=int)
    a2 = np.asarray(ds["antenna2"].values, dtype=int)
    catalog, index = _catalog(ds)
    pols = [_POL_NUMBERS[str(p)] for p in ds[schema.POLARIZATION].values]
    kwargs = {}
    if not metadata_only:
        shape = (n_time * n_bl, ds.sizes[schema.FREQUENCY], len(pols))
        kwargs = dict(
            data_array=np.asarray(ds["VISIBILITY"].values).reshape(shape),
            flag_array=np.asarray(ds["FLAG"].values).reshape(shape),
            nsample_array=np.asarray(ds["WEIGHT"].values, dtype=np.float32).reshape(
                shape
            ),
        )
    with warnings.catch_warnings():
        # UVData.new computes its own UVW; ours replaces it just below.
        warnings.filterwarnings("ignore", message="Recalculating uvw_array")
        uvd = _new_uvdata(
            UVData,
            telescope,
            ds,
            times_jd,
            a1,
            a2,
            catalog,
            index,
            pols,
            metadata_only,
            kwargs,
        )
    uvd.uvw_array = np.asarray(ds["UVW"].values, dtype=np.float64).reshape(
        n_time * n_bl, 3
    )
    uvd.extra_keywords["pointing_dec"] = float(ds.attrs["pointing_dec"])
    if metadata_only:
        uvd.data_array = uvd.flag_array = uvd.nsample_array = None
    return uvd


def _new_uvdata(
    UVData, telescope, ds, times_jd, a1, a2, catalog, index, pols, metadata_only, kwargs
):
    n_time = ds.sizes[schema.TIME]
    n_bl = ds.sizes[schema.BASELINE]
    return UVData.new(
        freq_array=np.asarray(ds[schema.FREQUENCY].values, dtype=np.float64),
        polarization_array=pols,
        times=np.repeat(times_jd, n_bl),
        antpairs=np.stack([np.tile(a1, n_time), np.tile(a2, n_time)], axis=-1),
        do_blt_outer=False,
        telescope=telescope,
        integration_time=np.repeat(np.asarray(ds["integration_time"].values), n_bl),
        channel_width=np.asarray(ds["channel_width"].values, dtype=np.float64),
        phase_center_catalog=catalog,
        phase_center_id_array=np.repeat(index, n_bl),
        vis_units="Jy",
        history=str(ds.attrs.get("history", "")) + " Written by dsa110.",
        empty=metadata_only,
        **kwargs,
    )


def write_uvh5(
    ds, path, *, overwrite: bool = False, time_chunk: int | None = None
) -> Path:
    """Write a visibility dataset to a UVH5 file readable by pyuvdata.

    Parameters
    ----------
    ds : xarray.Dataset
        Following :mod:`dsa110.schema`; NumPy- or dask-backed.
    path : str or os.PathLike
        The file to create.
    overwrite : bool, keyword-only
        Replace an existing file (atomically); otherwise refuse.
    time_chunk : int, optional
        Integrations written per step (default: about 64 MB of visibilities).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    schema.validate(ds)
    n_time = ds.sizes[schema.TIME]
    n_bl = ds.sizes[schema.BASELINE]
    per_time = n_bl * ds.sizes[schema.FREQUENCY] * ds.sizes[schema.POLARIZATION] * 8
    step = time_chunk or max(1, int(_CHUNK_BYTES // per_time))
    uvd = to_uvdata(ds, metadata_only=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        uvd.initialize_uvh5_file(str(tmp), clobber=True)
        for t0 in range(0, n_time, step):
            part = ds.isel({schema.TIME: slice(t0, t0 + step)})
            nt = part.sizes[schema.TIME]
            shape = (
                nt * n_bl,
                part.sizes[schema.FREQUENCY],
                part.sizes[schema.POLARIZATION],
            )
            uvd.write_uvh5_part(
                str(tmp),
                data_array=np.asarray(
                    part["VISIBILITY"].values, dtype=np.complex64
                ).reshape(shape),
                flag_array=np.asarray(part["FLAG"].values).reshape(shape),
                nsample_array=np.asarray(
                    part["WEIGHT"].values, dtype=np.float32
                ).reshape(shape),
                blt_inds=np.arange(t0 * n_bl, (t0 + nt) * n_bl),
                run_check_acceptability=False,
                check_header=False,  # the header was written from this very object
            )
    return Path(path)
