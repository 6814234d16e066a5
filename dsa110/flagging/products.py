"""Where flags go: a zarr store's FLAG, an MS FLAG column, or a flag product.

Raw UVH5 files are never modified: their flags go to a *flag product*, a small
zarr store holding ``FLAG`` with the dataset's coordinates. A zarr visibility
store (:func:`dsa110.io.zarr_store.write_zarr`) gets its ``FLAG`` array replaced
and a Measurement Set its FLAG column rewritten. In every case the new flags are
computed completely before anything at the destination changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dsa110 import schema
from dsa110.errors import FileFormatError

__all__ = [
    "write_flag_product",
    "open_flag_product",
    "recover_ms_flags",
    "recover_zarr_flags",
    "replace_zarr_flags",
    "write_ms_flags",
]

_COORDS = (
    schema.TIME,
    schema.BASELINE,
    schema.FREQUENCY,
    schema.POLARIZATION,
    "antenna1",
    "antenna2",
    "baseline_antenna1_name",
    "baseline_antenna2_name",
)


def write_flag_product(ds, path, *, overwrite=False, attrs=None):
    """Write ``ds.FLAG`` (and the coordinates that locate it) as a zarr store.

    Parameters
    ----------
    ds : xarray.Dataset
        Flagged dataset; ``FLAG`` (time, baseline_id, frequency, polarization)
        bool, NumPy- or dask-backed (written chunk by chunk).
    path : str or os.PathLike
        The product to create (a directory, conventionally ``*.flags.zarr``).
    overwrite : bool, keyword-only
        Replace an existing product (atomically); otherwise refuse.
    attrs : dict, optional, keyword-only
        Extra attributes (e.g. the strategy and the source files).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    import dask.array as da  # deferred: only the writers need these
    import zarr

    from dsa110.io.atomic import atomic_output

    info = {
        "product": "dsa110 flags",
        "source_files": [
            str(f) for f in np.atleast_1d(ds.attrs.get("source_files", []))
        ],
        **(attrs or {}),
    }
    flag = ds["FLAG"]
    data = (
        flag.data
        if isinstance(flag.data, da.Array)
        else da.from_array(np.asarray(flag.data))
    )
    # zarr v2 written directly (as dsa110.io.zarr_store does): xarray's to_zarr
    # expects zarr 3 here.
    with atomic_output(path, overwrite=overwrite) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        root.attrs.update(info)
        arr = root.create("FLAG", shape=flag.shape, chunks=data.chunksize, dtype=bool)
        arr.attrs["_ARRAY_DIMENSIONS"] = list(flag.dims)
        for c in _COORDS:
            if c in ds.coords:
                values = np.asarray(ds[c].values)
                if values.dtype.kind in "OU":
                    values = values.astype(str).astype(object)
                    carr = root.array(c, values, dtype=str)
                else:
                    carr = root.array(c, values)
                carr.attrs["_ARRAY_DIMENSIONS"] = list(ds[c].dims)
        da.store(data.rechunk(arr.chunks), arr, lock=False)
        zarr.consolidate_metadata(str(tmp))
    return Path(path)


def open_flag_product(path):
    """Open a flag product written by :func:`write_flag_product` (lazily).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    xarray.Dataset
        With ``FLAG`` (time, baseline_id, frequency, polarization) bool.

    Raises
    ------
    FileFormatError
        If ``path`` is not such a product.
    """
    import dask.array as da  # deferred: only the readers need these
    import xarray as xr
    import zarr

    try:
        root = zarr.open_consolidated(str(path), mode="r")
        flag = root["FLAG"]
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise FileFormatError(path, f"not a flag product ({exc})") from exc
    coords = {}
    for name, arr in root.arrays():
        if name != "FLAG":
            coords[name] = (tuple(arr.attrs["_ARRAY_DIMENSIONS"]), arr[...])
    dims = tuple(flag.attrs["_ARRAY_DIMENSIONS"])
    return xr.Dataset(
        {"FLAG": (dims, da.from_zarr(flag))}, coords=coords, attrs=dict(root.attrs)
    )


def recover_zarr_flags(store) -> None:
    """Put back the ``FLAG`` array a killed :func:`replace_zarr_flags` moved aside.

    It swaps the arrays with two renames; a process killed between them
    leaves the store without ``FLAG`` (the old one aside, the new one in a
    temporary store): the old one goes back, the rest is removed
    (:func:`dsa110.io.atomic.remove_stale`).

    Parameters
    ----------
    store : str or os.PathLike
    """
    from dsa110.io.atomic import remove_stale

    store = Path(store)
    remove_stale(store)
    remove_stale(store.parent)


def replace_zarr_flags(ds, store):
    """Replace the ``FLAG`` array of a zarr v2 visibility store by ``ds.FLAG``.

    The new flags are written to a temporary store beside ``store``, and only
    when complete is the old ``FLAG`` directory swapped for the new one and the
    metadata re-consolidated, so ``ds`` may be computed from ``store`` itself.

    Parameters
    ----------
    ds : xarray.Dataset
        Flagged dataset with the store's shape.
    store : str or os.PathLike
        A store written by :func:`dsa110.io.zarr_store.write_zarr`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileFormatError
        If ``store`` has no ``FLAG`` array of the dataset's shape.
    """
    import dask.array as da  # deferred: only the writers need these
    import zarr

    from dsa110.io.atomic import ASIDE_PREFIX, remove_path, temporary_name

    store = Path(store)
    recover_zarr_flags(store)
    try:
        root = zarr.open_group(str(store), mode="r")
        old = root["FLAG"]
    except (KeyError, ValueError) as exc:
        raise FileFormatError(store, f"no FLAG array ({exc})", field="FLAG") from exc
    if tuple(old.shape) != tuple(ds["FLAG"].shape):
        raise FileFormatError(
            store,
            f"FLAG has shape {old.shape}, the flags {ds['FLAG'].shape}",
            field="FLAG",
        )
    tmp = temporary_name(store)
    try:
        group = zarr.open_group(str(tmp), mode="w")
        new = group.create("FLAG", shape=old.shape, chunks=old.chunks, dtype=bool)
        new.attrs.update(dict(old.attrs))
        data = ds["FLAG"].data
        data = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
        da.store(data.rechunk(old.chunks), new, lock=False)
        aside = temporary_name(store / "FLAG", prefix=ASIDE_PREFIX)
        os.rename(store / "FLAG", aside)
        os.rename(tmp / "FLAG", store / "FLAG")
        remove_path(aside)
        if (store / ".zmetadata").exists():
            zarr.consolidate_metadata(str(store))
    finally:
        remove_path(tmp)
    return store


def _row_runs(rows):
    """``(lo, hi, increment)`` runs of ``rows`` that one ``putcol`` each can write.

    One strided run when the rows are evenly spaced (as dask-ms and pyuvdata
    write a window's rows), else runs of consecutive rows (row selections,
    ``t.selectrows``, refuse writes on user-locked MSs).
    """
    steps = np.diff(rows)
    if rows.size > 1 and np.all(steps == steps[0]):
        return [(0, rows.size, int(steps[0]))]
    breaks = np.flatnonzero(steps != 1) + 1
    return [(lo, hi, 1) for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, rows.size])]


def _flag_backup_path(ms):
    ms = Path(ms)
    return ms.parent / f".{ms.name}.dsa110-flag-backup.npz"


def _save_flag_backup(table, ms, runs):
    """Save the FLAG (and FLAG_ROW) cells of ``runs`` of an open table, atomically."""
    from dsa110.io.atomic import atomic_output

    arrays = {"runs": np.asarray(runs, np.int64).reshape(-1, 3)}
    for k, (start, nrow, incr) in enumerate(runs):
        old = np.asarray(table.getcol("FLAG", startrow=start, nrow=nrow, rowincr=incr))
        arrays[f"flag{k}"] = np.packbits(old.ravel())
        arrays[f"shape{k}"] = np.asarray(old.shape, np.int64)
        if "FLAG_ROW" in table.colnames():
            row = table.getcol("FLAG_ROW", startrow=start, nrow=nrow, rowincr=incr)
            arrays[f"row{k}"] = np.asarray(row, bool)
    with atomic_output(_flag_backup_path(ms), overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def recover_ms_flags(ms) -> bool:
    """Put back the flags a killed :func:`write_ms_flags` was replacing.

    Parameters
    ----------
    ms : str or os.PathLike

    Returns
    -------
    bool
        Whether there was a write to undo.
    """
    path = _flag_backup_path(ms)
    if not path.exists():
        return False
    from casacore import tables  # deferred: python-casacore is the ``ms`` extra

    with np.load(path) as saved:
        with tables.table(str(ms), readonly=False, ack=False, lockoptions="user") as t:
            t.lock(write=True)
            for k, (start, nrow, incr) in enumerate(saved["runs"]):
                kw = dict(startrow=int(start), nrow=int(nrow), rowincr=int(incr))
                shape = tuple(saved[f"shape{k}"])
                bits = np.unpackbits(saved[f"flag{k}"], count=int(np.prod(shape)))
                t.putcol("FLAG", bits.astype(bool).reshape(shape), **kw)
                if f"row{k}" in saved:
                    t.putcol("FLAG_ROW", saved[f"row{k}"], **kw)
            t.flush()
            t.unlock()
    path.unlink()
    return True


def write_ms_flags(flags, ms, *, times, antenna1, antenna2, frequency):
    """Write flags into a Measurement Set's FLAG column (and clear FLAG_ROW).

    Rows are matched to the dataset by (TIME, ANTENNA1, ANTENNA2) and channels by
    frequency, per spectral window; correlations are in the MS's own order (as
    :func:`dsa110.io.read_ms` presents them).

    Parameters
    ----------
    flags : numpy.ndarray
        ``(time, baseline_id, frequency, polarization)`` bool, computed.
    ms : str or os.PathLike
        The Measurement Set, modified in place.
    times : numpy.ndarray
        ``(time,)`` float64, the dataset's times (unix s), ascending; matched
        to the MS's distinct TIME values in order.
    antenna1, antenna2 : numpy.ndarray
        ``(baseline_id,)`` int, the dataset's antenna indices.
    frequency : numpy.ndarray
        ``(frequency,)`` float64 Hz, ascending.

    Raises
    ------
    FileFormatError
        If a row or channel of the MS has no match in the dataset.

    Notes
    -----
    The cells to be replaced are saved first (packed bits, beside the MS:
    ``.NAME.dsa110-flag-backup.npz``) and the copy removed once every window is
    written; a run killed in between leaves it, and :func:`recover_ms_flags`
    (which this function and ``dsa110 flag`` call first) puts the old flags
    back, so a rerun starts from, and gives, what a clean run would.
    """
    from casacore import tables  # deferred: python-casacore is the ``ms`` extra

    recover_ms_flags(ms)
    ms = str(ms)
    flags = np.asarray(flags, dtype=bool)
    n_ant = int(max(antenna1.max(), antenna2.max())) + 1
    bl_key = antenna1.astype(np.int64) * n_ant + antenna2
    order = np.argsort(bl_key)
    with tables.table(f"{ms}::DATA_DESCRIPTION", ack=False) as t:
        dd_spw = t.getcol("SPECTRAL_WINDOW_ID")
    with tables.table(f"{ms}::SPECTRAL_WINDOW", ack=False) as t:
        spw_freq = [np.asarray(t.getcell("CHAN_FREQ", k)) for k in range(t.nrows())]
    with tables.table(ms, readonly=False, ack=False, lockoptions="user") as t:
        # Hold a write lock for the whole update (dask-ms writes user-locked MSs).
        t.lock(write=True)
        time = t.getcol("TIME")
        a1 = t.getcol("ANTENNA1").astype(np.int64)
        a2 = t.getcol("ANTENNA2").astype(np.int64)
        ddid = t.getcol("DATA_DESC_ID")
        utime = np.unique(time)
        if utime.size != times.size:
            raise FileFormatError(
                ms, f"{utime.size} integrations, flags have {times.size}", field="TIME"
            )
        t_idx = np.searchsorted(utime, time)
        key = a1 * n_ant + a2
        pos = np.searchsorted(bl_key[order], key)
        pos = np.minimum(pos, order.size - 1)
        if not np.all(bl_key[order][pos] == key):
            raise FileFormatError(
                ms, "rows with baselines the flags do not have", field="ANTENNA1"
            )
        b_idx = order[pos]
        windows = []
        for d in np.unique(ddid):
            rows = np.flatnonzero(ddid == d)
            freq = spw_freq[int(dd_spw[d])]
            c_idx = np.searchsorted(frequency, freq)
            c_idx = np.minimum(c_idx, frequency.size - 1)
            if not np.allclose(frequency[c_idx], freq, rtol=1e-12, atol=0.0):
                raise FileFormatError(
                    ms,
                    f"spectral window of DATA_DESC_ID {d} has channels "
                    "the flags do not have",
                    field="CHAN_FREQ",
                )
            windows.append((rows, c_idx, _row_runs(rows)))
        # the cells about to change, kept until all are written: a killed run
        # leaves them for recover_ms_flags, not a mix of old and new flags
        runs = [
            (int(rows[lo]), int(hi - lo), incr)
            for rows, _, row_runs in windows
            for lo, hi, incr in row_runs
        ]
        _save_flag_backup(t, ms, runs)
        for rows, c_idx, row_runs in windows:
            values = flags[
                t_idx[rows][:, None], b_idx[rows][:, None], c_idx[None, :], :
            ]
            for lo, hi, incr in row_runs:
                kw = dict(startrow=int(rows[lo]), nrow=int(hi - lo), rowincr=incr)
                t.putcol("FLAG", values[lo:hi], **kw)
                if "FLAG_ROW" in t.colnames():
                    t.putcol("FLAG_ROW", values[lo:hi].all(axis=(1, 2)), **kw)
        t.flush()
        t.unlock()
    _flag_backup_path(ms).unlink()
