"""Give the C heap's free pages back to the operating system between tiles.

A worker process runs tile after tile. glibc's allocator keeps the memory that the
previous tiles freed inside its heaps (fragmented between blocks still in use), so
the process's resident size crept up by ~7 MB per small tile (measured over 14
tiles: 0.78 → 0.84 GB after each tile without, flat at 0.63–0.67 GB with
``malloc_trim``). ``malloc_trim(0)`` returns every whole free page; other C
libraries (musl, macOS) have no such call and are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim():
    """Return glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory():
    """Collect garbage, then hand the heap's free pages back to the system.

    Returns
    -------
    bool
        Whether the C library could be asked to (glibc).
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
