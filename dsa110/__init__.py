"""dsa110: Dask-distributed, array-native processing of DSA-110 visibilities.

The top-level package imports nothing heavy; the public entry points are loaded
on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> module that defines it; resolved lazily by __getattr__ so that
# ``import dsa110`` stays cheap (the CLI and dask workers import it often).
_LAZY = {
    "open_observation": "dsa110.io",
    "load_observation": "dsa110.io",
    "apply_calibration": "dsa110.calibration",
    "process_tile": "dsa110.pipeline",
    "find_groups": "dsa110.io",
    "rephase": "dsa110.phasing",
    "write_ms": "dsa110.io",
    "read_ms": "dsa110.io",
    "write_zarr": "dsa110.io",
    "write_uvh5": "dsa110.io",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'dsa110' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(__all__)
