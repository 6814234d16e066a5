"""Calibration solution tables: one xarray Dataset, saved to zarr or netCDF.

Layout (every variable optional except the coordinates)::

    BANDPASS       (antenna, frequency, polarization)  complex64
    BANDPASS_FLAG  (antenna, frequency, polarization)  bool
    BANDPASS_SNR   (antenna, frequency, polarization)  float32
    GAIN           (gain_time, antenna, polarization)  complex64
    GAIN_FLAG      (gain_time, antenna, polarization)  bool
    GAIN_SNR       (gain_time, antenna, polarization)  float32
    DELAY          (antenna, polarization)             float64, s
    QA_*           (antenna,)                          per-antenna QA metrics

with coordinates ``antenna`` (antenna number = station − 1), ``antenna_name``,
``frequency`` (Hz), ``polarization``, ``gain_time`` and ``gain_interval`` (unix
seconds UTC), and provenance attributes: ``calibrator``, ``calibrator_ra``,
``calibrator_dec`` (radians), ``refant`` (every part's, comma-separated) and
``bandpass_refant``/``gain_refant``/``delay_refant`` (each part's own),
``time_start``/``time_end``,
``parameters`` (JSON), ``code_version``, ``created``, ``convention``.

Gains follow :mod:`dsa110.schema`: ``V_obs_ij = g_i conj(g_j) V_true_ij`` with
``g = B(f) · G(t) · exp(2πi τ f)``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from dsa110.errors import CorruptFileError, FileFormatError, OutputExistsError

__all__ = ["SOLUTION_CONVENTION", "make_solutions", "save_solutions", "load_solutions"]

SOLUTION_CONVENTION = (
    "V_obs_ij = g_i * conj(g_j) * V_true_ij; apply V_obs_ij / (g_i conj(g_j))"
)


def make_solutions(*parts, calibrator=None, times=None, parameters=None, qa=True):
    """Merge solver outputs and attach provenance.

    Parameters
    ----------
    *parts : xarray.Dataset
        Results of :func:`~dsa110.calibration.solve_bandpass`,
        :func:`~dsa110.calibration.solve_gains`, and/or a ``DELAY`` array.
    calibrator : Calibrator or str, optional, keyword-only
        The calibrator (name, or an object with ``name``, ``ra``, ``dec``).
    times : array-like of float, optional, keyword-only
        Unix seconds of the data used (for ``time_start``/``time_end``).
    parameters : dict, optional, keyword-only
        Solver parameters, stored as JSON.
    qa : bool, keyword-only
        Add the per-antenna QA metrics
        (:func:`dsa110.calibration.diagnostics.qa_metrics`).

    Returns
    -------
    xarray.Dataset
    """
    import datetime

    from dsa110 import __version__

    sol = xr.merge(
        [p.to_dataset() if isinstance(p, xr.DataArray) else p for p in parts],
        compat="override",
        combine_attrs="drop_conflicts",
    )
    attrs = dict(sol.attrs)
    refants = {p.attrs.get("refant") for p in parts if "refant" in p.attrs}
    attrs["refant"] = ",".join(sorted(str(r) for r in refants)) if refants else ""
    attrs.update(_part_refants(parts))
    if calibrator is not None:
        attrs["calibrator"] = str(
            getattr(calibrator, "alt_name", "")
            or getattr(calibrator, "name", calibrator)
        )
        if hasattr(calibrator, "ra"):
            attrs["calibrator_ra"] = float(calibrator.ra)
            attrs["calibrator_dec"] = float(calibrator.dec)
    if times is not None and len(times):
        attrs["time_start"] = float(np.min(times))
        attrs["time_end"] = float(np.max(times))
    attrs["parameters"] = json.dumps(parameters or {}, default=str, sort_keys=True)
    attrs["code_version"] = f"dsa110 {__version__}"
    attrs["created"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    attrs["convention"] = SOLUTION_CONVENTION
    sol.attrs = attrs
    if qa:
        from dsa110.calibration.diagnostics import qa_metrics

        sol = sol.merge(qa_metrics(sol))
    return sol


def _part_refants(parts):
    """``{"bandpass_refant": ..., "gain_refant": ..., ...}`` of each solved part.

    With ``refant="auto"`` the bandpass and the gains may pick different
    antennas; the joined ``refant`` attribute cannot say which is whose.
    """
    out = {}
    for part in parts:
        if "refant" not in part.attrs:
            continue
        names = [part.name] if isinstance(part, xr.DataArray) else part.data_vars
        for var in ("BANDPASS", "GAIN", "DELAY"):
            if var in names:
                out[f"{var.lower()}_refant"] = str(part.attrs["refant"])
    return out


def _split_complex(ds):
    out = ds.copy()
    for name in list(ds.data_vars):
        if np.iscomplexobj(ds[name].values):
            out[name + "_REAL"] = ds[name].real.astype(
                np.float32 if ds[name].dtype == np.complex64 else np.float64
            )
            out[name + "_IMAG"] = ds[name].imag.astype(out[name + "_REAL"].dtype)
            out[name + "_REAL"].attrs["complex_part_of"] = name
            out = out.drop_vars(name)
    for name in list(out.variables):
        if out[name].dtype == bool:
            out[name] = out[name].astype(np.int8)
            out[name].attrs["boolean"] = 1
    return out


def _join_complex(ds):
    out = ds.copy()
    for name in list(ds.data_vars):
        part = ds[name].attrs.get("complex_part_of")
        if part:
            out[part] = ds[name] + 1j * ds[part + "_IMAG"]
            out[part].attrs = {}
            out = out.drop_vars([name, part + "_IMAG"])
    for name in list(out.variables):
        if out[name].attrs.pop("boolean", 0):
            out[name] = out[name].astype(bool)
    return out


def _write_zarr_v2(ds, path):
    """Write a small in-memory dataset with the zarr-v2 API.

    xarray's own zarr writer needs zarr 3; the project pins zarr < 3. The layout
    is xarray's: ``_ARRAY_DIMENSIONS`` on each array.
    """
    import zarr  # deferred: optional dependency (dsa110[zarr])

    root = zarr.open_group(str(path), mode="w")
    for name, var in ds.variables.items():
        values = np.asarray(var.values)
        if values.dtype.kind == "U":
            values = values.astype(f"<U{max(1, values.dtype.itemsize // 4)}")
        arr = root.create_dataset(
            name,
            data=values,
            shape=values.shape,
            dtype=values.dtype,
            chunks=values.shape or None,
        )
        arr.attrs["_ARRAY_DIMENSIONS"] = list(var.dims)
        arr.attrs["is_coord"] = name in ds.coords
        arr.attrs.update({k: v for k, v in var.attrs.items()})
    root.attrs.update(ds.attrs)
    zarr.consolidate_metadata(str(path))


#: Size of a Blosc chunk header; bytes 12–16 hold the chunk's stored length.
_BLOSC_HEADER = 16


def _truncated_blosc_chunks(arr):
    """Keys of ``arr``'s Blosc chunks shorter than their header says.

    Blosc stores incompressible data as a plain copy and decodes a truncated
    one without error, from memory past the end of the buffer.
    """
    from numcodecs import Blosc  # deferred: optional dependency (dsa110[zarr])

    if not isinstance(arr.compressor, Blosc):
        return []
    store = arr.chunk_store
    keys = [f"{arr.path}/{k}" for k in store.listdir(arr.path) if k[:1] != "."]
    return [
        key
        for key in keys
        if len(buf := store[key]) < _BLOSC_HEADER
        or int.from_bytes(buf[12:16], "little") != len(buf)
    ]


def _read_zarr_array(path, name, arr):
    """Read one array of a table, refusing missing or undecodable chunks.

    zarr reads a missing chunk as its fill value (zeros: a table whose
    ``BANDPASS`` chunk is lost would flag every visibility); :func:`_write_zarr_v2`
    stores every chunk, so fewer stored chunks than the grid holds means damage.
    """
    if arr.nchunks_initialized < arr.nchunks:
        raise CorruptFileError(
            path,
            f"{arr.nchunks - arr.nchunks_initialized} of {arr.nchunks} chunk(s) "
            "missing from the solution table",
            field=name,
        )
    if bad := _truncated_blosc_chunks(arr):
        raise CorruptFileError(
            path, f"truncated chunk(s) {bad}: cannot decode the data", field=name
        )
    try:
        return arr[...]
    except (RuntimeError, ValueError) as exc:  # numcodecs decode failures
        raise CorruptFileError(
            path, f"cannot decode the solution table's data: {exc}", field=name
        ) from exc


def _read_zarr_v2(path):
    import zarr  # deferred: optional dependency (dsa110[zarr])

    root = zarr.open_consolidated(str(path), mode="r")
    data_vars, coords = {}, {}
    for name, arr in root.arrays():
        attrs = dict(arr.attrs)
        dims = tuple(attrs.pop("_ARRAY_DIMENSIONS"))
        is_coord = attrs.pop("is_coord", False)
        values = _read_zarr_array(path, name, arr)
        (coords if is_coord else data_vars)[name] = (dims, values, attrs)
    return xr.Dataset(data_vars, coords=coords, attrs=dict(root.attrs))


def save_solutions(solutions, path, *, overwrite: bool = False):
    """Write a solution table to zarr (``*.zarr``) or netCDF (``*.nc``).

    netCDF-3 (scipy, always available) has no complex or bool type: complex
    variables are stored as ``<NAME>_REAL``/``<NAME>_IMAG`` and booleans as int8,
    and :func:`load_solutions` restores them. Written to a temporary name and
    renamed into place.

    Parameters
    ----------
    solutions : xarray.Dataset
        A solution table.
    path : str or Path
        Destination; the suffix picks the format.
    overwrite : bool, keyword-only
        Replace an existing output.

    Raises
    ------
    OutputExistsError
        When ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists (pass overwrite=True to replace it)")
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    if path.suffix == ".zarr":
        _write_zarr_v2(solutions, tmp)
    else:
        _split_complex(solutions).to_netcdf(tmp, engine="scipy")
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    tmp.rename(path)


def load_solutions(path):
    """Read a solution table written by :func:`save_solutions`.

    Parameters
    ----------
    path : str or Path
        ``*.zarr`` or ``*.nc``.

    Returns
    -------
    xarray.Dataset
        In memory.

    Raises
    ------
    FileFormatError
        When the file is not a solution table.
    CorruptFileError
        When a zarr table has a chunk missing or undecodable.
    """
    path = Path(path)
    try:
        if path.suffix == ".zarr" or path.is_dir():
            ds = _read_zarr_v2(path)
        else:
            with xr.open_dataset(path, engine="scipy") as f:
                ds = _join_complex(f.load())
    except FileFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(
            path, f"cannot read a calibration solution table: {exc}"
        ) from exc
    if not any(v in ds for v in ("BANDPASS", "GAIN", "DELAY")):
        raise FileFormatError(path, "no BANDPASS, GAIN or DELAY variable")
    return ds
