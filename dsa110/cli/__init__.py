"""The ``dsa110`` command.

Each module in this package defines ``register(subparsers)``, which adds its
subcommand(s) to the parser; modules import the library lazily inside their
handlers so that ``dsa110 --help`` stays fast. Subcommand modules are found by
scanning this package, so adding a command means adding a module.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from dsa110.errors import DSA110Error

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand.

    Returns
    -------
    argparse.ArgumentParser
    """
    from dsa110 import __version__

    parser = argparse.ArgumentParser(
        prog="dsa110",
        description="Process DSA-110 visibilities: simulate, inspect, convert, "
        "flag, calibrate, image, measure and find variable sources.",
    )
    parser.add_argument("--version", action="version", version=f"dsa110 {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the ``dsa110`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (defaults to ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 on a library error or one from the file
        system (no such folder, not a folder, permission denied, disk full:
        printed without a traceback), 2 on a usage error; a command may
        document others (``dsa110 run``: 75 when another run holds the tile).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    _set_numba_cache_dir()
    try:
        return int(args.func(args) or 0)
    except (DSA110Error, OSError) as exc:
        print(f"dsa110: error: {exc}", file=sys.stderr)
        return 1


def _set_numba_cache_dir() -> None:
    """Give Numba a per-user cache directory when none is configured.

    Done at CLI start-up, never at library import (pfb-imaging #270/#276): an
    installed package directory may not be writable.
    """
    import os
    from pathlib import Path

    if "NUMBA_CACHE_DIR" not in os.environ:
        cache = (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            / "dsa110"
            / "numba"
        )
        os.environ["NUMBA_CACHE_DIR"] = str(cache)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
