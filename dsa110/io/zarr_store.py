"""zarr output and lazy input of the visibility dataset.

The dataset is written as it is (the :mod:`dsa110.schema` layout, one zarr array
per variable and coordinate, with xarray's ``_ARRAY_DIMENSIONS`` attribute and
consolidated metadata, so ``xarray.open_zarr`` reads it too), in parallel by
dask (:func:`dask.array.to_zarr`, one task per chunk), under a temporary name
renamed into place; :func:`open_zarr` reads it back lazily.

The zarr-v2 API is used directly: the installed xarray (2026.9) only drives
zarr 3, while the project pins zarr < 3 (dask-ms).
It is not an xradio processing set (MSv4): xradio is not a dependency, and the
schema's names already follow MSv4 (``time``, ``baseline_id``, ``frequency``,
``polarization``, ``VISIBILITY``, ``UVW``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dsa110 import schema
from dsa110.io.atomic import atomic_output

__all__ = ["write_zarr", "open_zarr"]

_DEFAULT_CHUNKS = {
    schema.TIME: 4,
    schema.BASELINE: -1,
    schema.FREQUENCY: 48,
    schema.POLARIZATION: -1,
}


def write_zarr(ds, store, *, overwrite: bool = False, chunks=None) -> Path:
    """Write a visibility dataset to a zarr (v2) directory store, in parallel.

    Parameters
    ----------
    ds : xarray.Dataset
        Following :mod:`dsa110.schema`; NumPy- or dask-backed.
    store : str or os.PathLike
        Directory of the zarr store to create.
    overwrite : bool, keyword-only
        Replace an existing store (atomically); otherwise refuse.
    chunks : dict, optional
        Chunks of the stored arrays by dim name (default: 4 integrations × one
        subband of 48 channels, whole baseline and polarization axes).

    Returns
    -------
    pathlib.Path
        ``store``.

    Raises
    ------
    OutputExistsError
        If ``store`` exists and ``overwrite`` is False.
    """
    import dask  # deferred: keep ``import dsa110.io`` light
    import dask.array as da
    import zarr

    schema.validate(ds)
    chunks = {**_DEFAULT_CHUNKS, **(chunks or {})}
    with atomic_output(store, overwrite=overwrite) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        root.attrs.update(json.loads(_json(dict(ds.attrs))))
        writes = []
        for name, var in ds.variables.items():
            attrs = json.loads(_json(dict(var.attrs)))
            attrs["_ARRAY_DIMENSIONS"] = list(var.dims)
            if name in ds.data_vars:
                shape = tuple(
                    min(max(1, chunks.get(d, -1) if chunks.get(d, -1) != -1 else n), n)
                    for d, n in zip(var.dims, var.shape)
                )
                data = (
                    var.data
                    if isinstance(var.data, da.Array)
                    else da.from_array(var.data)
                )
                data = data.rechunk(shape)
                arr = root.create(name, shape=var.shape, chunks=shape, dtype=var.dtype)
                arr.attrs.update(attrs)
                writes.append(da.store(data, arr, lock=False, compute=False))
            else:
                values = np.asarray(var.values)
                if values.dtype.kind == "O":
                    values = values.astype(str)
                arr = root.array(name, values)
                arr.attrs.update(attrs)
        dask.compute(*writes)
        zarr.consolidate_metadata(str(tmp))
    return Path(store)


def open_zarr(store, *, chunks=None):
    """Open a store written by :func:`write_zarr`, lazily (dask-backed).

    Parameters
    ----------
    store : str or os.PathLike
    chunks : dict, optional
        Dask chunks by dim name (default: the stored chunks).

    Returns
    -------
    xarray.Dataset
        Following :mod:`dsa110.schema`; data variables are dask arrays.

    Raises
    ------
    FileFormatError
        If ``store`` is not a zarr store written by :func:`write_zarr`.
    """
    import dask.array as da  # deferred: keep ``import dsa110.io`` light
    import xarray as xr
    import zarr

    from dsa110.errors import FileFormatError

    if not Path(store).is_dir():
        raise FileFormatError(store, "no such zarr store")
    try:
        root = zarr.open_consolidated(str(store), mode="r")
    except (KeyError, ValueError) as exc:
        raise FileFormatError(store, f"not a consolidated zarr store ({exc})") from exc
    data_vars, coords = {}, {}
    for name, arr in root.arrays():
        attrs = dict(arr.attrs)
        try:
            dims = tuple(attrs.pop("_ARRAY_DIMENSIONS"))
        except KeyError:
            raise FileFormatError(
                store, "array has no _ARRAY_DIMENSIONS", field=name
            ) from None
        if name in schema.DATA_VARS and len(dims) == 4:
            data = da.from_zarr(arr)
            if chunks:
                data = data.rechunk(
                    tuple(
                        chunks.get(d, "auto") if d in chunks else c
                        for d, c in zip(dims, data.chunks)
                    )
                )
            data_vars[name] = xr.Variable(dims, data, attrs)
        elif name in schema.DATA_VARS:
            data_vars[name] = xr.Variable(dims, arr[...], attrs)
        else:
            coords[name] = xr.Variable(dims, arr[...], attrs)
    return xr.Dataset(data_vars, coords=coords, attrs=dict(root.attrs))


def _json(obj) -> str:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (np.ndarray, tuple)):
            return list(np.asarray(o).tolist())
        return str(o)

    return json.dumps(obj, default=default)
