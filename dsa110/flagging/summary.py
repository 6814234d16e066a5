"""Flag fractions per antenna, channel, time, baseline and polarization."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import xarray as xr

from dsa110 import schema
from dsa110.schema import SchemaError

__all__ = ["flag_fractions"]


def flag_fractions(ds):
    """Fractions of flagged samples along every axis, computed in one pass.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset with ``FLAG`` (time, baseline_id, frequency,
        polarization) bool and ``antenna1``/``antenna2`` coordinates.

    Returns
    -------
    xarray.Dataset
        In memory, with float64 variables ``time_fraction`` (time),
        ``frequency_fraction`` (frequency), ``baseline_fraction``
        (baseline_id), ``polarization_fraction`` (polarization) and
        ``antenna_fraction`` (antenna: the fraction of the samples of every
        baseline the antenna is part of, autocorrelation included), and the
        attribute ``total_fraction``.

    Raises
    ------
    SchemaError
        When ``FLAG`` or the antenna coordinates are missing.
    """
    dims = schema.DATA_VARS["FLAG"].dims
    if "FLAG" not in ds.data_vars or tuple(ds["FLAG"].dims) != dims:
        raise SchemaError(f"dataset has no 'FLAG' variable with dims {dims}")
    for name in ("antenna1", "antenna2"):
        if name not in ds.coords:
            raise SchemaError(f"dataset has no {name!r} coordinate")
    flags = ds["FLAG"].data
    n_t, n_b, n_f, n_p = flags.shape
    xp = da if isinstance(flags, da.Array) else np
    sums = (
        xp.sum(flags, axis=(1, 2, 3)),
        xp.sum(flags, axis=(0, 2, 3)),
        xp.sum(flags, axis=(0, 1, 3)),
        xp.sum(flags, axis=(0, 1, 2)),
    )
    per_time, per_bl, per_chan, per_pol = (
        np.asarray(s, dtype=np.float64) for s in dask.compute(*sums)
    )
    a1 = np.asarray(ds["antenna1"].values)
    a2 = np.asarray(ds["antenna2"].values)
    ants, inverse = np.unique(np.concatenate([a1, a2]), return_inverse=True)
    i1, i2 = inverse[: a1.size], inverse[a1.size :]
    flagged = np.zeros(ants.size)
    count = np.zeros(ants.size)
    np.add.at(flagged, i1, per_bl)
    np.add.at(count, i1, 1.0)
    cross = a1 != a2
    np.add.at(flagged, i2[cross], per_bl[cross])
    np.add.at(count, i2[cross], 1.0)
    per_bl_samples = n_t * n_f * n_p
    names = ants.astype(str)
    if "baseline_antenna1_name" in ds.coords and "baseline_antenna2_name" in ds.coords:
        lookup = dict(zip(a1, np.asarray(ds["baseline_antenna1_name"].values)))
        lookup.update(zip(a2, np.asarray(ds["baseline_antenna2_name"].values)))
        names = np.array([str(lookup[a]) for a in ants])
    total = float(per_time.sum()) / max(1, flags.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = xr.Dataset(
            {
                "time_fraction": (schema.TIME, per_time / (n_b * n_f * n_p)),
                "frequency_fraction": (schema.FREQUENCY, per_chan / (n_t * n_b * n_p)),
                "baseline_fraction": (schema.BASELINE, per_bl / per_bl_samples),
                "polarization_fraction": (
                    schema.POLARIZATION,
                    per_pol / (n_t * n_b * n_f),
                ),
                "antenna_fraction": ("antenna", flagged / (count * per_bl_samples)),
            },
            coords={
                schema.TIME: ds[schema.TIME].values,
                schema.FREQUENCY: ds[schema.FREQUENCY].values,
                schema.BASELINE: ds[schema.BASELINE].values,
                schema.POLARIZATION: ds[schema.POLARIZATION].values,
                "antenna": ("antenna", names),
                "antenna_number": ("antenna", ants),
            },
            attrs={"total_fraction": total},
        )
    return out
