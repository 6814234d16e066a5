"""Dispatch on the array type of each chunk (NumPy → CPU kernel, CuPy → GPU kernel).

The backend is chosen per chunk, inside the block function, so a CuPy-backed dask
array dispatches to the GPU kernels and a NumPy-backed one to the Numba kernels,
without any global flag.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["get_array_namespace", "is_cupy_array", "to_numpy"]


def is_cupy_array(x) -> bool:
    """Return True when ``x`` is a CuPy array (without importing CuPy).

    Parameters
    ----------
    x : object
        Any object.

    Returns
    -------
    bool
    """
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def get_array_namespace(*arrays):
    """Return the array module (``numpy`` or ``cupy``) shared by ``arrays``.

    ``None`` entries and Python scalars are ignored.

    Parameters
    ----------
    *arrays : array-like or None
        Arrays that a kernel receives.

    Returns
    -------
    module
        ``numpy`` or ``cupy``.

    Raises
    ------
    TypeError
        When NumPy and CuPy arrays are mixed.
    """
    kinds = {
        "cupy" if is_cupy_array(a) else "numpy"
        for a in arrays
        if a is not None and hasattr(a, "shape")
    }
    if len(kinds) > 1:
        raise TypeError("cannot mix NumPy and CuPy arrays in one kernel call")
    if kinds == {"cupy"}:
        return sys.modules["cupy"]
    return np


def to_numpy(x):
    """Move ``x`` to host memory as a NumPy array (a no-op for NumPy input).

    Parameters
    ----------
    x : array-like
        NumPy or CuPy array.

    Returns
    -------
    numpy.ndarray
    """
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)
