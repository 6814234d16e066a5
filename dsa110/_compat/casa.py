"""Run CASA (``casatools``/``casatasks`` from PyPI) offline, where it is installed.

CASA is optional: only interop tests and benchmarks use it. Imported without a
site configuration, ``casatools`` tries to download its measures data at start-up
and fails on a machine without network. :func:`configure_casa_offline` writes the
site configuration that DESIGN.md §4 describes (casadata's bundled measures,
automatic updates off, no log file) and points ``CASASITECONFIG`` at it, before
``casatasks`` is first imported.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

__all__ = ["configure_casa_offline"]


def configure_casa_offline() -> Path | None:
    """Point CASA at an offline site configuration, if CASA's data is installed.

    Leaves a ``CASASITECONFIG`` that is already set alone. Must be called before
    ``casatools`` or ``casatasks`` is imported (CASA reads the file once).

    Returns
    -------
    pathlib.Path or None
        The configuration in use, or None when ``casadata`` is not installed
        (then CASA is absent and nothing is changed).
    """
    existing = os.environ.get("CASASITECONFIG")
    if existing:
        return Path(existing)
    spec = importlib.util.find_spec("casadata")
    if spec is None or spec.origin is None:
        return None
    datapath = Path(spec.origin).parent / "__data__"
    text = (
        f"measurespath = {str(datapath)!r}\n"
        "measures_auto_update = False\n"
        "data_auto_update = False\n"
        "logfile = '/dev/null'\n"
    )
    path = Path(tempfile.gettempdir()) / f"dsa110-casa-site-{os.getuid()}.py"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    os.environ["CASASITECONFIG"] = str(path)
    return path
