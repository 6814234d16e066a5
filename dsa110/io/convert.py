"""Convert DSA-110 observation groups to Measurement Set, zarr or UVH5.

:func:`convert` turns one group (a directory, a group id in a directory, or a
list of subband files) into one product; :func:`watch` converts every group of
an incoming directory as soon as its 16 files are there, keeps a state file so
that a restart does not reconvert finished groups, and writes every product
under a temporary name renamed into place, so it never leaves a partial product.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import UTC
from pathlib import Path

from dsa110.errors import ConfigurationError, DSA110Error, GroupError
from dsa110.io.atomic import atomic_output, remove_stale

__all__ = [
    "FORMATS",
    "convert",
    "resolve_group_input",
    "watch",
    "product_path",
    "STATE_FILE",
]

#: Output formats and their file-name suffixes.
FORMATS = {"ms": ".ms", "zarr": ".zarr", "uvh5": ".uvh5"}
#: Name of the watch state file in the output directory.
STATE_FILE = ".dsa110-convert-state.json"


def format_of(output, fmt=None) -> str:
    """Return the output format: ``fmt``, else from the suffix (default ``"ms"``)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigurationError(
                f"format must be one of {sorted(FORMATS)}, not {fmt!r}"
            )
        return fmt
    suffix = Path(output).suffix.lower()
    for name, ext in FORMATS.items():
        if suffix == ext or (name == "uvh5" and suffix in (".h5", ".hdf5")):
            return name
    return "ms"


def resolve_group_input(inputs):
    """Turn the CLI's INPUT into what :func:`dsa110.io.open_observation` takes.

    Parameters
    ----------
    inputs : path-like or sequence of path-like
        A directory holding one group; ``DIR/GROUP_ID`` (a group id, e.g.
        ``2026-11-24T00:00:00``, in a directory); or a list of subband files.

    Returns
    -------
    ObservationGroup or list of pathlib.Path

    Raises
    ------
    GroupError
        If a directory holds several groups, or no group matches the id.
    FileNotFoundError
        If nothing matches.
    """
    from dsa110.io.groups import find_groups  # deferred: h5py/astropy

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = [Path(p) for p in inputs]
    if len(paths) > 1:
        return paths
    (path,) = paths
    if path.is_file():
        return [path]
    if path.is_dir():
        groups = find_groups(path)
        if len(groups) == 1:
            return groups[0]
        if not groups:
            raise GroupError(f"{path}: no *_sbNN.hdf5 subband files")
        ids = ", ".join(g.group_id for g in groups)
        raise GroupError(
            f"{path}: holds {len(groups)} groups ({ids}); name one as {path}/GROUP_ID"
        )
    if path.parent.is_dir():
        groups = find_groups(path.parent)
        for g in groups:
            if g.group_id == path.name or g.group_id.replace(
                ":", ""
            ) == path.name.replace(":", ""):
                return g
        # Any timestamp of the group (e.g. one file's) within the grouping tolerance.
        from datetime import datetime

        from dsa110.io.groups import DEFAULT_TOLERANCE_S

        try:
            when = datetime.fromisoformat(path.name).replace(tzinfo=UTC)
        except ValueError:
            when = None
        if when is not None and groups:
            best = min(groups, key=lambda g: abs((g.start - when).total_seconds()))
            if abs((best.start - when).total_seconds()) <= DEFAULT_TOLERANCE_S:
                return best
        raise GroupError(f"{path.parent}: no group with id {path.name!r}")
    raise FileNotFoundError(f"{path}: no such file, directory or group")


def _rephase(ds, center):
    from dsa110.phasing import rephase  # deferred: astropy

    return rephase(ds, center)


def convert(
    inputs,
    output,
    *,
    format: str | None = None,  # noqa: A002 - the CLI's option name
    rephase=None,
    spw: str = "merged",
    fields: str = "single",
    missing: str = "error",
    overwrite: bool = False,
    progress: bool = False,
    time_chunk: int | None = None,
    weight_spectrum: bool = True,
    sigma_spectrum: bool = False,
) -> Path:
    """Convert one observation group to a Measurement Set, zarr store or UVH5 file.

    Parameters
    ----------
    inputs : ObservationGroup, path-like or sequence of path-like
        See :func:`resolve_group_input`.
    output : str or os.PathLike
        The product to create.
    format : {"ms", "zarr", "uvh5"}, optional, keyword-only
        Default: from the suffix of ``output`` (``.ms`` if none matches).
    rephase : str or SkyCoord, optional
        ``"median_meridian"``, a calibrator name or ``"RA,DEC"`` (degrees):
        rephase with :func:`dsa110.phasing.rephase` first. For an MS with
        ``fields="single"`` the default is the median meridian.
    spw : {"merged", "subband"}
        MS spectral windows.
    fields : {"single", "per_integration"}
        MS fields (see :func:`dsa110.io.ms.write_ms`).
    missing : {"error", "flag", "skip"}
        Absent subbands (see :func:`dsa110.io.open_observation`).
    overwrite : bool
        Replace an existing product (atomically).
    progress : bool
        Show a progress bar (dask's) while writing.
    time_chunk : int, optional
        Integrations per streamed chunk (≥ 1).
    weight_spectrum, sigma_spectrum : bool
        MS: write WEIGHT_SPECTRUM (default) / SIGMA_SPECTRUM (not by default);
        see :func:`dsa110.io.ms.write_ms`.

    Returns
    -------
    pathlib.Path
        ``output``.
    """
    from dsa110.io.observation import open_observation  # deferred: heavy imports

    if time_chunk is not None and not (int(time_chunk) == time_chunk >= 1):
        raise ConfigurationError(
            f"time_chunk={time_chunk!r}: expected a number of integrations ≥ 1"
        )
    fmt = format_of(output, format)
    output = Path(output)
    if output.exists() and not overwrite:
        from dsa110.errors import OutputExistsError

        raise OutputExistsError(
            f"{output}: exists already (use --overwrite to replace it)"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(output.parent)
    group = inputs if hasattr(inputs, "paths") else resolve_group_input(inputs)
    chunks = None
    if fmt == "ms":
        # Whole-band chunks: each is read from the 16 files straight into one
        # buffer, and written as whole MS tiles in file order.
        chunks = {"frequency": -1, **({"time": time_chunk} if time_chunk else {})}
    ds = open_observation(group, missing=missing, chunks=chunks)
    if rephase is not None:
        ds = _rephase(ds, rephase)
    bar = _progress_bar() if progress else contextlib.nullcontext()
    with bar, _closing_files(group.paths if hasattr(group, "paths") else group):
        if fmt == "ms":
            from dsa110.io.ms import write_ms

            return write_ms(
                ds,
                output,
                fields=fields,
                spw=spw,
                overwrite=overwrite,
                time_chunk=time_chunk,
                weight_spectrum=weight_spectrum,
                sigma_spectrum=sigma_spectrum,
            )
        if fmt == "zarr":
            from dsa110.io.zarr_store import write_zarr

            return write_zarr(ds, output, overwrite=overwrite)
        from dsa110.io.uvh5_writer import write_uvh5

        return write_uvh5(ds, output, overwrite=overwrite, time_chunk=time_chunk)


@contextlib.contextmanager
def _closing_files(paths):
    """Close the cached HDF5 handles of ``paths`` on exit (``watch`` runs for weeks)."""
    from dsa110.io.h5handle import close_files  # deferred: h5py

    try:
        yield
    finally:
        close_files(paths)


def _progress_bar():
    from dask.diagnostics import ProgressBar  # deferred: only with a progress bar

    return ProgressBar(minimum=1.0, dt=0.5)


def product_path(outdir, group_id: str, fmt: str) -> Path:
    """Where :func:`watch` writes a group's product."""
    return Path(outdir) / f"{group_id.replace(':', '')}{FORMATS[fmt]}"


def _load_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise DSA110Error(
            f"{path}: unreadable watch state ({exc}); remove it to start over"
        ) from exc


def _save_state(path: Path, state: dict) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))


def watch(
    indir,
    outdir,
    *,
    format: str = "ms",  # noqa: A002 - the CLI's option name
    timeout: float = 900.0,
    incomplete: str = "skip",
    settle: float = 5.0,
    poll: float = 10.0,
    once: bool = False,
    n_subbands: int = 16,
    log=print,
    clock=time.time,
    **convert_kw,
) -> dict:
    """Convert each group of ``indir`` into ``outdir`` as soon as it is complete.

    Parameters
    ----------
    indir, outdir : str or os.PathLike
        Incoming subband files; products (``<group id>.ms`` etc.).
    format : {"ms", "zarr", "uvh5"}, keyword-only
    timeout : float
        Seconds after a group's newest file was last modified after which an
        incomplete group is given up on (``incomplete``).
    incomplete : {"skip", "flag"}
        After the timeout: skip the group, or convert it with the missing
        subbands filled with flagged zeros.
    settle : float
        A complete group is converted once none of its files changed for this
        long (the correlator appends to files while writing).
    poll : float
        Seconds between scans of ``indir``.
    once : bool
        Scan once, convert what is ready, and return (no waiting).
    n_subbands : int
        Subbands of a complete group.
    log : callable
        Called with one line per event.
    clock : callable
        Returns the current unix time (for tests).
    **convert_kw
        Passed to :func:`convert` (``rephase``, ``spw``, ``fields``...).

    Returns
    -------
    dict
        The state: ``{group_id: {"status": "done"|"skipped"|"failed", ...}}``.

    Notes
    -----
    The state file ``outdir/.dsa110-convert-state.json`` is rewritten atomically
    after each group; a group whose product exists is also taken as done, so a
    restart never reconverts it. Products are written under temporary names
    (removed at start-up if their writer died), so a kill leaves no partial
    product at any output name.
    """
    from dsa110.io.groups import find_groups  # deferred: h5py/astropy

    if incomplete not in ("skip", "flag"):
        raise ConfigurationError(
            f"incomplete must be 'skip' or 'flag', not {incomplete!r}"
        )
    fmt = format_of("x", format)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    state_path = outdir / STATE_FILE
    state = _load_state(state_path)
    for p in remove_stale(outdir):
        log(f"removed stale partial product {p.name}")
    while True:
        for group in find_groups(indir):
            gid = group.group_id
            if gid in state and state[gid].get("status") in ("done", "skipped"):
                continue
            out = product_path(outdir, gid, fmt)
            if out.exists():
                state[gid] = {"status": "done", "output": str(out)}
                _save_state(state_path, state)
                continue
            mtimes = [p.stat().st_mtime for p in group.paths if p.exists()]
            newest = max(mtimes) if mtimes else 0.0
            age = clock() - newest
            if (
                state.get(gid, {}).get("status") == "failed"
                and state[gid].get("mtime") == newest
            ):
                continue  # failed before and no file changed since: do not retry
            complete = len(set(group.subbands)) >= n_subbands and not group.duplicated
            if complete and age < settle and not once:
                continue
            missing = "error"
            if not complete:
                if age < timeout:
                    continue
                if incomplete == "skip":
                    state[gid] = {"status": "skipped", "missing": list(group.missing)}
                    log(
                        f"{gid}: incomplete after {timeout:.0f} s "
                        f"(missing subbands {list(group.missing)}); skipped"
                    )
                    _save_state(state_path, state)
                    continue
                missing = "flag"
            log(f"{gid}: converting to {out.name}")
            t0 = time.perf_counter()
            try:
                convert(group, out, format=fmt, missing=missing, **convert_kw)
            except DSA110Error as exc:
                log(f"{gid}: failed: {exc}")
                state[gid] = {"status": "failed", "error": str(exc), "mtime": newest}
            else:
                state[gid] = {
                    "status": "done",
                    "output": str(out),
                    "flag_filled": list(group.missing) if missing == "flag" else [],
                    "seconds": round(time.perf_counter() - t0, 2),
                }
                log(f"{gid}: done in {state[gid]['seconds']} s")
            _save_state(state_path, state)
        if once:
            return state
        time.sleep(poll)
