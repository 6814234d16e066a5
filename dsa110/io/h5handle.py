"""Picklable, lazily opened, per-process cached h5py file handles.

Dask graphs hold :class:`H5File` objects rather than open ``h5py.File`` handles:
pickling one sends only its path, and each worker process opens the file on
first use and keeps it open (read-only) for later tasks, like dask-ms's
``TableProxy``. Reads are serialised per file under a lock (HDF5 is not
thread-safe; h5py also serialises internally).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dsa110.errors import CorruptFileError, NotUVH5Error

__all__ = ["H5File", "HDF5_MAGIC", "is_hdf5", "close_all"]

#: The 8-byte signature at the start of every HDF5 file.
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

_cache: dict[tuple[int, str], object] = {}
_locks: dict[str, threading.Lock] = {}
_cache_lock = threading.Lock()


def is_hdf5(path) -> bool:
    """True when ``path`` starts with the HDF5 signature.

    Parameters
    ----------
    path : str or Path
        File to check.

    Returns
    -------
    bool
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except OSError:
        return False


class H5File:
    """A picklable handle to an HDF5 file opened read-only on first use.

    Parameters
    ----------
    path : str or Path
        The file.
    """

    __slots__ = ("path",)

    def __init__(self, path):
        self.path = str(Path(path).resolve())

    def __reduce__(self):
        return (H5File, (self.path,))

    def __eq__(self, other):
        return isinstance(other, H5File) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def __repr__(self):
        return f"H5File({self.path!r})"

    @property
    def lock(self) -> threading.Lock:
        """The per-file lock serialising reads in this process."""
        with _cache_lock:
            return _locks.setdefault(self.path, threading.Lock())

    def open(self):
        """Return the process's open ``h5py.File`` for this path.

        Returns
        -------
        h5py.File

        Raises
        ------
        NotUVH5Error
            If the file is not HDF5.
        CorruptFileError
            If HDF5 cannot open it (truncated or damaged).
        """
        import h5py

        key = (os.getpid(), self.path)
        with _cache_lock:
            fh = _cache.get(key)
            if fh is not None and fh.id.valid:
                return fh
        if not os.path.exists(self.path):
            raise CorruptFileError(self.path, "file does not exist")
        if not is_hdf5(self.path):
            raise NotUVH5Error(self.path, "not an HDF5 file (no HDF5 signature)")
        try:
            fh = h5py.File(self.path, "r")
        except OSError as exc:
            raise CorruptFileError(self.path, f"HDF5 cannot open it: {exc}") from exc
        with _cache_lock:
            _cache[key] = fh
        return fh


def close_all() -> None:
    """Close every cached handle of this process (e.g. before files are moved)."""
    with _cache_lock:
        for key, fh in list(_cache.items()):
            if key[0] == os.getpid():
                try:
                    fh.close()
                except Exception:  # noqa: BLE001 - closing a dead handle is harmless
                    pass
            del _cache[key]
