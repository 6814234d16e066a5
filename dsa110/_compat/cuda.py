"""Helpers for the GPU (``numba.cuda`` + CuPy) kernels."""

from __future__ import annotations

from dsa110._compat.optional import import_optional

__all__ = ["require_cupy", "threads_per_block"]


def require_cupy(purpose: str):
    """Return the ``cupy`` module or raise a clear ``ImportError``.

    Parameters
    ----------
    purpose : str
        What the GPU is needed for, for the message.

    Returns
    -------
    module
    """
    return import_optional("cupy", purpose=purpose)


def threads_per_block(n: int, *, maximum: int = 256) -> int:
    """Choose a 1-D CUDA block size for ``n`` work items.

    Parameters
    ----------
    n : int
        Number of work items.
    maximum : int, keyword-only
        Upper bound on the block size.

    Returns
    -------
    int
        A multiple of 32 (or ``n`` rounded up to 32 when smaller).
    """
    return int(min(maximum, max(32, 32 * ((n + 31) // 32))))
