"""Optional dependencies: import them on use, with a clear message when absent."""

from __future__ import annotations

import importlib

__all__ = ["import_optional", "EXTRAS"]

#: Which extra of ``dsa110`` brings each optional module.
EXTRAS = {
    "cupy": "gpu",
    "daskms": "ms",
    "casacore": "ms",
    "fastapi": "service",
    "prometheus_client": "service",
    "psycopg": "postgres",
    "aoflagger": "bench",
    "AegeanTools": "bench",
    "uvicorn": "service",
    "httpx": "service",
    "pyuvdata": "dev",
    "ducc0": "dev",
}


def import_optional(name: str, *, purpose: str | None = None):
    """Import an optional module or raise an ``ImportError`` naming the extra.

    Parameters
    ----------
    name : str
        Module name, e.g. ``"cupy"``.
    purpose : str, optional
        What the module is needed for, added to the message.

    Returns
    -------
    module

    Raises
    ------
    ImportError
        When the module is not installed; the message says what to install.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        extra = EXTRAS.get(name.split(".")[0])
        hint = f"pip install 'dsa110[{extra}]'" if extra else f"pip install {name}"
        what = f" for {purpose}" if purpose else ""
        raise ImportError(f"{name} is required{what}; install it with: {hint}") from exc
