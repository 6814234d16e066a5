"""The xarray backend: ``xr.open_dataset(path, engine="dsa110")``.

A single UVH5 file opens through a lazily indexed :class:`UVH5BackendArray`
(xarray adds dask chunks when ``chunks=`` is given); a directory holding one
DSA-110 group opens through :func:`dsa110.io.open_observation`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from dsa110.io.h5handle import HDF5_MAGIC
from dsa110.io.uvh5 import UVH5DataArray

__all__ = ["DSA110BackendEntrypoint", "UVH5BackendArray"]


class UVH5BackendArray(BackendArray):
    """xarray's view of one data variable of one UVH5 file.

    Parameters
    ----------
    array : UVH5DataArray
        The lazily indexed file array.
    """

    __slots__ = ("array", "shape", "dtype")

    def __init__(self, array: UVH5DataArray):
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw_getitem
        )

    def _raw_getitem(self, key):
        return np.asarray(self.array[key])


class DSA110BackendEntrypoint(BackendEntrypoint):
    """Open DSA-110 (and other single-window, time-major) UVH5 files with xarray."""

    description = "DSA-110 UVH5 visibility files (and groups of them) as lazy datasets"
    url = "https://github.com/dsa110"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "missing")

    def guess_can_open(self, filename_or_obj) -> bool:
        try:
            p = Path(os.fspath(filename_or_obj))
        except TypeError:
            return False
        if p.suffix not in (".hdf5", ".h5", ".uvh5"):
            return False
        try:
            with open(p, "rb") as fh:
                return fh.read(8) == HDF5_MAGIC
        except OSError:
            return False

    def open_dataset(self, filename_or_obj, *, drop_variables=None, missing="error"):
        from dsa110.io.observation import build_dataset, open_observation
        from dsa110.io.uvh5 import read_uvh5_meta

        path = Path(os.fspath(filename_or_obj))
        if path.is_dir():
            ds = open_observation(path, missing=missing)
        else:
            meta = read_uvh5_meta(path)
            ds = build_dataset([meta], [None], missing=missing)
            lazy = {
                var: indexing.LazilyIndexedArray(
                    UVH5BackendArray(UVH5DataArray(meta, var))
                )
                for var in ("VISIBILITY", "FLAG", "WEIGHT")
            }
            ds = ds.assign({var: (ds[var].dims, arr) for var, arr in lazy.items()})
        if drop_variables:
            ds = ds.drop_vars(list(drop_variables), errors="ignore")
        return ds
