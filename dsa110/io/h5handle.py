"""Picklable, lazily opened, per-process cached h5py file handles.

Dask graphs hold :class:`H5File` objects rather than open ``h5py.File`` handles:
pickling one sends only its path, and each worker process opens the file on
first use and keeps it open (read-only) for later tasks, like dask-ms's
``TableProxy``, until :func:`close_files` (called when a group is done) or
:func:`close_all`. Reads are serialised per file under a lock (HDF5 is not
thread-safe; h5py also serialises internally). For plain chunked data sets,
:class:`ChunkLayout` and :meth:`H5File.read_chunks` read chunks with positional
reads (no lock) into a scratch buffer kept per thread (as large as the largest
read, ~90 MB for a DSA-110 file's visibilities).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110.errors import CorruptFileError, NotUVH5Error

__all__ = [
    "H5File",
    "HDF5_MAGIC",
    "HDF5_DAMAGE",
    "ChunkLayout",
    "is_hdf5",
    "close_all",
    "close_files",
]

#: The 8-byte signature at the start of every HDF5 file.
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: What h5py raises when it reads a damaged file (garbage in an object header,
#: a B-tree or a chunk index): ``KeyError`` for an object it cannot open,
#: ``OSError``, ``RuntimeError``, ``TypeError`` or ``ValueError`` from HDF5's
#: C library. Catch it around h5py calls only, never around our own code.
HDF5_DAMAGE = (KeyError, OSError, RuntimeError, TypeError, ValueError)

_cache: dict[tuple[int, str], object] = {}
_layouts: dict[tuple[int, str, str], object] = {}
_fds: dict[tuple[int, str], int] = {}
_scratch = threading.local()
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


@dataclass(frozen=True)
class ChunkLayout:
    """Where the chunks of an uncompressed, chunked HDF5 data set lie in the file.

    Lets readers copy chunks straight from a memory map of the file into their
    final layout, bypassing HDF5's per-chunk selection machinery (the
    correlator's data sets have thousands of ~12 KB chunks per file).

    Attributes
    ----------
    shape : tuple of int
        The data set's shape.
    chunk_shape : tuple of int
        Its chunk shape.
    chunk_offsets : numpy.ndarray
        ``(chunk, ndim)`` int64 index of each allocated chunk's first element.
    element_offsets : numpy.ndarray
        ``(chunk,)`` int64 position of each chunk in the file, in units of the
        element size (offsets are multiples of it).
    dtype : numpy.dtype
        The stored element type.
    """

    shape: tuple
    chunk_shape: tuple
    chunk_offsets: np.ndarray
    element_offsets: np.ndarray
    dtype: np.dtype


def _chunk_layout(dset, file_size: int, path: str):
    """Build a :class:`ChunkLayout`, or None when the fast path does not apply.

    Raises :class:`CorruptFileError` naming ``path`` when HDF5 cannot walk the
    data set's chunk index.
    """
    if not hasattr(os, "preadv"):  # e.g. Windows: read through h5py instead
        return None
    dcpl = dset.id.get_create_plist()
    if (
        dset.chunks is None
        or dcpl.get_nfilters() != 0
        or not hasattr(dset.id, "chunk_iter")
    ):
        return None
    if dset.dtype.hasobject or dset.dtype.byteorder not in ("=", "|", "<"):
        return None
    chunk_offsets: list = []
    byte_offsets: list = []

    def visit(info):
        chunk_offsets.append(info.chunk_offset)
        byte_offsets.append(info.byte_offset)

    try:
        dset.id.chunk_iter(visit)
    except HDF5_DAMAGE as exc:
        raise CorruptFileError(
            path, f"cannot read its chunk index: {exc}", field=dset.name.lstrip("/")
        ) from exc
    n_expected = 1
    for size, chunk in zip(dset.shape, dset.chunks):
        n_expected *= -(-size // chunk)
    itemsize = dset.dtype.itemsize
    offsets = np.asarray(byte_offsets, dtype=np.int64)
    chunk_bytes = int(np.prod(dset.chunks)) * itemsize
    if (
        len(offsets) != n_expected  # unallocated chunks read as the fill value
        or np.any(offsets % itemsize)
        or (offsets.size and int(offsets.max()) + chunk_bytes > file_size)
    ):
        return None
    return ChunkLayout(
        shape=tuple(dset.shape),
        chunk_shape=tuple(dset.chunks),
        chunk_offsets=np.asarray(chunk_offsets, dtype=np.int64).reshape(-1, dset.ndim),
        element_offsets=offsets // itemsize,
        dtype=dset.dtype,
    )


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

        key = (os.getpid(), self.path, self.identity())
        with _cache_lock:
            fh = _cache.get(key)
            if fh is not None and fh.id.valid:
                return fh
            # A handle on an earlier file at this path (replaced since) is stale.
            for old in [k for k in _cache if k[:2] == key[:2] and k != key]:
                with contextlib.suppress(Exception):
                    _cache[old].close()
                del _cache[old]
        if not is_hdf5(self.path):
            raise NotUVH5Error(self.path, "not an HDF5 file (no HDF5 signature)")
        try:
            fh = h5py.File(self.path, "r")
        except HDF5_DAMAGE as exc:
            raise CorruptFileError(self.path, f"HDF5 cannot open it: {exc}") from exc
        with _cache_lock:
            _cache[key] = fh
        return fh

    def identity(self) -> tuple:
        """``(device, inode, size, mtime)`` of the file now: a replaced or
        rewritten file at the same path gets a fresh handle and chunk layout.

        Raises
        ------
        CorruptFileError
            If the file does not exist.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise CorruptFileError(self.path, "file does not exist") from None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def chunk_layout(self, dataset: str) -> ChunkLayout | None:
        """Return the cached chunk layout of ``dataset``.

        None when it is not a plain (chunked, unfiltered, little-endian) data set.

        Parameters
        ----------
        dataset : str
            Path of the data set inside the file, e.g. ``"Data/visdata"``.

        Returns
        -------
        ChunkLayout or None

        Raises
        ------
        CorruptFileError
            If HDF5 cannot read the data set or its chunk index.
        """
        key = (os.getpid(), self.path, dataset, self.identity())
        with _cache_lock:
            if key in _layouts:
                return _layouts[key]
        fh = self.open()
        with self.lock:
            try:
                dset = fh[dataset]
            except HDF5_DAMAGE as exc:
                raise CorruptFileError(
                    self.path, f"cannot open: {exc}", field=dataset
                ) from exc
            layout = _chunk_layout(dset, os.path.getsize(self.path), self.path)
        with _cache_lock:
            _layouts[key] = layout
        return layout

    def read_chunks(self, layout: ChunkLayout, which: np.ndarray) -> np.ndarray:
        """Read chunks ``which`` of a data set with positional reads.

        Chunks that lie next to each other in the file are read with one
        ``pread`` into a per-thread scratch buffer, reused between calls.

        Parameters
        ----------
        layout : ChunkLayout
            The data set's chunk layout.
        which : numpy.ndarray
            ``(n,)`` int indices into ``layout.chunk_offsets``, in any order.

        Returns
        -------
        numpy.ndarray
            ``(n × chunk_bytes,)`` uint8: the chunks in the order of ``which``
            (a view of the thread's scratch buffer, valid until its next call).

        Raises
        ------
        CorruptFileError
            If the file ends before a chunk does.
        """
        itemsize = layout.dtype.itemsize
        chunk_bytes = int(np.prod(layout.chunk_shape)) * itemsize
        total = len(which) * chunk_bytes
        buf = getattr(_scratch, "buf", None)
        if buf is None or buf.size < total:
            buf = _scratch.buf = np.empty(max(total, 1), dtype=np.uint8)
        view = memoryview(buf)
        starts = layout.element_offsets[which] * itemsize
        # Runs of chunks that are consecutive both in ``which`` and in the file.
        breaks = np.flatnonzero(np.diff(starts) != chunk_bytes) + 1
        bounds = np.concatenate([[0], breaks, [len(which)]])
        fd = self._fd()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            pos, end, offset = (
                int(lo) * chunk_bytes,
                int(hi) * chunk_bytes,
                int(starts[lo]),
            )
            while pos < end:
                n = os.preadv(fd, [view[pos:end]], offset)
                if n <= 0:
                    raise CorruptFileError(
                        self.path, f"file ends inside a chunk at byte {offset}"
                    )
                pos += n
                offset += n
        return buf[:total]

    def _fd(self) -> int:
        key = (os.getpid(), self.path, self.identity())
        with _cache_lock:
            fd = _fds.get(key)
            if fd is None:
                for old in [k for k in _fds if k[:2] == key[:2]]:
                    os.close(_fds.pop(old))
                fd = _fds[key] = os.open(self.path, os.O_RDONLY)
        return fd


def close_all() -> None:
    """Close every cached handle of this process (e.g. before files are moved)."""
    _close(lambda path: True)


def close_files(paths) -> None:
    """Close this process's cached handles of ``paths`` and forget their layouts.

    A long-running process (a Dask worker of ``reprocess``, ``dsa110 watch``)
    calls this when it is done with a group: the cache otherwise keeps two file
    descriptors and an HDF5 handle (with its chunk cache) open for every file it
    ever read (measured: ~13 MB of peak memory and 31 descriptors more per
    DSA-110 tile), until the process runs out of either. Later reads of these files reopen them.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The files. Do not call it while another thread of the process still
        reads them.
    """
    done = {H5File(p).path for p in paths}
    _close(done.__contains__)


def _close(selected) -> None:
    """Close the cached handles and descriptors of this process's ``selected`` paths."""
    pid = os.getpid()
    with _cache_lock:
        for key in [k for k in _cache if selected(k[1])]:
            fh = _cache.pop(key)
            if key[0] == pid:
                try:
                    fh.close()
                except Exception:  # noqa: BLE001 - closing a dead handle is harmless
                    pass
        for key in [k for k in _layouts if k[0] == pid and selected(k[1])]:
            del _layouts[key]
        for key in [k for k in _fds if k[0] == pid and selected(k[1])]:
            os.close(_fds.pop(key))
        for path in [p for p in _locks if selected(p)]:
            del _locks[path]
