"""Watch mode: process each group as soon as its 16 files have arrived.

A complete group whose files have not changed for ``settle_s`` seconds is
processed; an incomplete one is skipped or processed with its missing subbands
flag-filled once ``config.input.incomplete_timeout_s`` has passed since it was
first seen. After each processed tile, the mosaic stage makes the groups of
consecutive tiles that are complete (:mod:`dsa110.pipeline.mosaic`; a run's
shorter last group once a gap follows it). The database's "processed" status (and the per-group lock) make the
watcher safe to restart and never process a group twice unless forced.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dsa110.pipeline.config import PipelineConfig
from dsa110.pipeline.tile import TileResult, process_tile

__all__ = ["watch"]


def _settled(group, settle_s: float, now: float) -> bool:
    return all(now - Path(p).stat().st_mtime >= settle_s for p in group.paths)


def _skip_record(ctx, group) -> None:
    """Record a skipped incomplete group so a restarted watcher skips it too."""
    from dsa110.db import NotFoundError, ObservationRepository, session_scope
    from dsa110.pipeline.stages import utc_datetime

    with session_scope(ctx.session_factory) as session:
        repo = ObservationRepository(session)
        try:
            obs = repo.get_by_group(group.group_id)
        except NotFoundError:
            from dsa110.io import read_uvh5_meta

            meta = read_uvh5_meta(group.paths[0])
            obs = repo.add(
                group.group_id,
                start_time=utc_datetime(meta.time[0]),
                end_time=utc_datetime(meta.time[-1]),
                dec_deg=float(np.degrees(meta.pointing_dec)),
                status="incomplete",
            )
        repo.set_status(
            obs.id,
            "incomplete",
            qa={"skipped": True, "missing_subbands": list(group.missing)},
        )


def _was_skipped(ctx, group_id: str) -> bool:
    from dsa110.db import NotFoundError, ObservationRepository, session_scope

    with session_scope(ctx.session_factory) as session:
        try:
            obs = ObservationRepository(session).get_by_group(group_id)
        except NotFoundError:
            return False
        return obs.status == "incomplete" and bool((obs.qa or {}).get("skipped"))


def _mosaic_stage(ctx, out) -> None:
    """Make the mosaics that are complete now (a run's trailing group waits for a gap)."""
    from dsa110.pipeline.mosaic import make_mosaics

    for m in make_mosaics(ctx, final=False):
        out(
            f"{m.name}: {m.status}"
            + (f" ({m.error})" if m.error else f" in {m.seconds:.1f} s")
        )


def watch(
    indir,
    config: PipelineConfig,
    *,
    poll_s: float = 10.0,
    settle_s: float = 5.0,
    max_polls: int | None = None,
    out=print,
) -> list[TileResult]:
    """Process groups in ``indir`` as they complete; runs until interrupted.

    Parameters
    ----------
    indir : path-like
        The directory the correlator writes into.
    config : PipelineConfig
    poll_s : float, keyword-only
        Seconds between directory scans.
    settle_s : float, keyword-only
        A file must be unchanged this long before its group is processed.
    max_polls : int, optional, keyword-only
        Stop after this many scans (for tests and one-shot runs).
    out : callable, keyword-only

    Returns
    -------
    list of TileResult
        What this watcher did (processed, failed or skipped tiles).
    """
    from dsa110.io import find_groups
    from dsa110.pipeline.context import PipelineContext
    from dsa110.pipeline.tile import _already_processed

    ctx = PipelineContext(config)
    first_seen: dict[str, float] = {}
    done: set[str] = set()
    results: list[TileResult] = []
    polls = 0
    force = config.runtime.force
    try:
        while max_polls is None or polls < max_polls:
            polls += 1
            now = time.time()
            for group in find_groups(indir, tolerance=config.input.tolerance_s):
                gid = group.group_id
                if gid in done:
                    continue
                if not force and (
                    _already_processed(ctx, gid) or _was_skipped(ctx, gid)
                ):
                    done.add(gid)
                    continue
                first_seen.setdefault(gid, now)
                if not _settled(group, settle_s, now):
                    continue
                waited = now - first_seen[gid]
                if not group.complete and waited < config.input.incomplete_timeout_s:
                    continue
                if not group.complete and config.input.incomplete == "skip":
                    out(
                        f"skipping incomplete group {gid} (missing {list(group.missing)}) after {waited:.0f} s"
                    )
                    _skip_record(ctx, group)
                    results.append(
                        TileResult(
                            gid,
                            "skipped",
                            error=f"incomplete: missing {list(group.missing)}",
                        )
                    )
                    done.add(gid)
                    continue
                cfg = (
                    config
                    if group.complete
                    else config.model_copy(
                        update={
                            "input": config.input.model_copy(update={"missing": "flag"})
                        }
                    )
                )
                result = process_tile(group, cfg, force=force)
                out(
                    f"{gid}: {result.status}"
                    + (
                        f" ({result.error})"
                        if result.error
                        else f" in {result.seconds:.1f} s"
                    )
                )
                results.append(result)
                if result.status != "locked":
                    done.add(gid)
                if result.status == "processed":
                    _mosaic_stage(ctx, out)
            if max_polls is not None and polls >= max_polls:
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        out("watch: interrupted")
    return results
