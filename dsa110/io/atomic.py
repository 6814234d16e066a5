"""Write products under a temporary name and rename them into place.

A product (a file or a directory such as a Measurement Set or a zarr store) is
built at a hidden temporary path beside its final name, and only renamed to the
final name once it is complete, so a reader never sees a half-written product
and a crash leaves nothing at the output name. ``rename`` is atomic on POSIX
for paths on one file system, which the temporary name beside the target
guarantees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from dsa110.errors import OutputExistsError

__all__ = [
    "ASIDE_PREFIX",
    "atomic_output",
    "refuse_existing",
    "temporary_name",
    "remove_path",
    "remove_stale",
    "TEMP_PREFIX",
]

#: Prefix of temporary product names (hidden; cleaned up by :func:`remove_stale`).
TEMP_PREFIX = ".dsa110-tmp-"
#: Prefix of a replaced product moved aside while its replacement is renamed in
#: (put back by :func:`remove_stale` when a crash came between the two renames).
ASIDE_PREFIX = ".dsa110-old-"
#: How to replace an existing product, for library and command-line callers.
_HOW_TO_REPLACE = "pass overwrite=True, or --overwrite on the command line"


def temporary_name(path, *, prefix=TEMP_PREFIX) -> Path:
    """Return a unique hidden temporary path beside ``path`` (same directory).

    Parameters
    ----------
    path : str or os.PathLike
        The final product path.
    prefix : str, keyword-only
        :data:`TEMP_PREFIX` (a product being written) or :data:`ASIDE_PREFIX`
        (a replaced one moved aside).

    Returns
    -------
    pathlib.Path
        ``PREFIX + name + "." + writer's pid + "." + random``.
    """
    path = Path(path)
    return path.parent / f"{prefix}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def remove_path(path) -> None:
    """Remove a file, link or directory tree if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False):
    """Yield a temporary path; on success rename it to ``path``.

    On an exception the temporary product is removed and ``path`` is left
    untouched. With ``overwrite=True`` an existing product is replaced: the old
    one is first renamed aside, the new one renamed in, and only then is the old
    one deleted (a directory cannot be replaced by one ``rename``). A process
    killed between the two renames leaves the old product aside and ``path``
    empty; :func:`remove_stale` (which every writer of a folder runs first)
    renames it back, so ``path`` holds the complete old product or the complete
    new one.

    Parameters
    ----------
    path : str or os.PathLike
        The final product path.
    overwrite : bool, keyword-only
        Replace an existing product; otherwise refuse.

    Yields
    ------
    pathlib.Path
        Where to write the product.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False (checked before and after
        writing).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path}: exists already ({_HOW_TO_REPLACE}, to replace it)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    if not tmp.exists():
        raise FileNotFoundError(f"{tmp}: the writer produced nothing")
    if path.exists():
        if not overwrite:
            remove_path(tmp)
            raise OutputExistsError(f"{path}: appeared while writing; not replaced")
        old = temporary_name(path, prefix=ASIDE_PREFIX)
        os.rename(path, old)
        os.rename(tmp, path)
        remove_path(old)
    else:
        os.rename(tmp, path)


def refuse_existing(paths):
    """Raise when any of ``paths`` exists: checked before any work is done.

    Parameters
    ----------
    paths : iterable of str or Path

    Raises
    ------
    OutputExistsError
        Naming the existing files.
    """
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing:
        raise OutputExistsError(
            f"{', '.join(existing)}: exist(s) already "
            f"({_HOW_TO_REPLACE}, to replace them)"
        )


def remove_stale(directory) -> list:
    """Remove temporary products left in ``directory`` by killed writers.

    A replaced product moved aside by a writer killed before it renamed the
    new one in is put back under its name (removed when that name holds a
    product again).

    Parameters
    ----------
    directory : str or os.PathLike

    Returns
    -------
    list of pathlib.Path
        What was removed (not what was put back).
    """
    removed = []
    for prefix in (TEMP_PREFIX, ASIDE_PREFIX):
        for p in Path(directory).glob(f"{prefix}*"):
            pid = _writer_pid(p.name)
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue  # another live writer's product in progress
            final = p.parent / p.name[len(prefix) :].rsplit(".", 2)[0]
            if prefix == ASIDE_PREFIX and not final.exists():
                os.rename(p, final)
                continue
            remove_path(p)
            removed.append(p)
    return removed


def _writer_pid(name: str):
    """Return the writer's process id encoded in a temporary name, or None."""
    parts = name.rsplit(".", 2)
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
