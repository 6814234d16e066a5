"""Numba options shared by every kernel in the package.

Kernels use ``cache=True`` so the compiled code is reused across processes (the
cache directory is set by the CLI or worker start-up, never at library import), and
``nogil=True`` so dask's threads run them in parallel. No blanket ``fastmath``: it
would let LLVM assume there are no NaNs, which breaks flagging and NaN checks.
"""

from __future__ import annotations

__all__ = ["JIT_OPTIONS", "PARALLEL_JIT_OPTIONS"]

#: Options for every ``@numba.njit`` kernel.
JIT_OPTIONS = {"cache": True, "nogil": True}

#: Options for kernels that use ``numba.prange`` internally.
PARALLEL_JIT_OPTIONS = {"cache": True, "nogil": True, "parallel": True}
