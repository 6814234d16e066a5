"""Batch runners: one tile, or every tile in a time range on a Dask cluster.

Tiles holding a calibrator transit run first (their solutions are what the
other tiles of the strip need), then the rest, several in flight at once. Each
tile is one Dask task (:func:`dsa110.pipeline.tile.process_tile`) that builds its
own lazy graph inside the worker, so peak memory per worker is one tile's,
whatever the number of tiles; a task whose worker dies is re-run elsewhere
(Dask's retries), and the database lock, the "processed" status and products
renamed into place keep a re-run from doing work twice or leaving halves.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

from dsa110.pipeline.config import PipelineConfig
from dsa110.pipeline.tile import TileResult, process_tile

__all__ = [
    "BatchResults",
    "find_tiles",
    "order_tiles",
    "run_batch",
    "start_client",
    "reprocess",
]


class BatchResults(list):
    """The tiles' results (a list of TileResult) and the mosaics' (``.mosaics``)."""

    def __init__(self, tiles=(), mosaics=()):
        super().__init__(tiles)
        self.mosaics = list(mosaics)


def find_tiles(indir, *, start=None, end=None, tolerance: float = 60.0):
    """Groups in ``indir`` (optionally within a time range), oldest first."""
    from dsa110.io import find_groups

    return find_groups(indir, start=start, end=end, tolerance=tolerance)


def _holds_transit(group, config: PipelineConfig) -> bool:
    """Whether a group holds a usable calibrator transit (from one file's header)."""
    from dsa110.io import read_uvh5_meta
    from dsa110.pipeline.stages import calibrator_transit

    try:
        meta = read_uvh5_meta(group.paths[0])
    except Exception:  # noqa: BLE001 - a bad file fails later, in its own task, with its error
        return False
    return calibrator_transit(meta.pointing_dec, meta.time, config) is not None


def order_tiles(groups, config: PipelineConfig):
    """Split groups into (calibrator tiles, other tiles), each in time order."""
    if not config.calibration.enabled:
        return [], list(groups)
    flags = [_holds_transit(g, config) for g in groups]
    return [g for g, f in zip(groups, flags) if f], [
        g for g, f in zip(groups, flags) if not f
    ]


def _compute_on_this_worker():
    """Run the task's own dask graphs on this worker's threads, not on the cluster.

    Inside a task, dask's default scheduler is the cluster (the worker's client): a
    tile's chunks would be spread over every worker, each worker holding parts of
    the others' tiles besides its own (the peak per worker grew from 1.47 to 1.77 GB
    between 12 and 24 small tiles on 2 workers). Set for the whole worker process
    (dask's configuration is global, and every dsa110 task wants the same). Outside
    a Dask task it does nothing.
    """
    import dask

    from dsa110.pipeline.stages import dask_worker_threads

    nthreads = dask_worker_threads()
    if nthreads is None:
        return  # not in a task: the caller's scheduler applies
    dask.config.set({"scheduler": "threads", "num_workers": nthreads})


def _tile_task(paths, config_json):
    """The Dask task: rebuild the configuration and process one tile."""
    from dsa110.pipeline.config import PipelineConfig

    _compute_on_this_worker()
    config = PipelineConfig.model_validate_json(config_json)
    return process_tile([Path(p) for p in paths], config)


def _mosaic_task(image_ids, config_json, force):
    """The Dask task: rebuild the configuration and make one mosaic."""
    from dsa110.pipeline.config import PipelineConfig
    from dsa110.pipeline.mosaic import mosaic_tile_images

    _compute_on_this_worker()
    config = PipelineConfig.model_validate_json(config_json)
    return mosaic_tile_images(image_ids, config, force=force)


@contextlib.contextmanager
def start_client(config: PipelineConfig, *, out=print):
    """A Dask client: the configured scheduler, or a new ``LocalCluster``."""
    import dask
    from distributed import Client, LocalCluster

    rt = config.runtime
    if rt.scheduler:
        with Client(rt.scheduler) as client:
            out(
                f"connected to Dask scheduler {rt.scheduler} (dashboard: {client.dashboard_link})"
            )
            yield client
        return
    # the workers take the configuration from here (the nanny hands it over)
    profile = {"distributed.worker.profile.enabled": rt.worker_profile}
    with (
        dask.config.set(profile),
        LocalCluster(
            n_workers=rt.workers,
            threads_per_worker=rt.threads_per_worker,
            memory_limit=rt.memory_limit,
            processes=True,
        ) as cluster,
        Client(cluster) as client,
    ):
        out(
            f"started a LocalCluster of {rt.workers} worker(s); dashboard: {client.dashboard_link}"
        )
        yield client


def _progress(total, desc, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="tile", disable=not enabled, leave=False)


def run_batch(
    indir,
    config: PipelineConfig,
    *,
    start=None,
    end=None,
    use_dask: bool | None = None,
    progress: bool = True,
    out=print,
) -> list[TileResult]:
    """Process every tile in ``indir`` (in ``[start, end]``), calibrator tiles first.

    Parameters
    ----------
    indir : path-like
        Directory of subband files.
    config : PipelineConfig
    start, end : str or datetime, optional, keyword-only
        Time range of group starts.
    use_dask : bool, optional, keyword-only
        Run tiles as tasks on a Dask cluster; default: when a scheduler is
        configured or more than one worker is asked for. Otherwise tiles run
        one after another in this process.
    progress : bool, keyword-only
        Show a progress bar.
    out : callable, keyword-only
        Where status lines go.

    Returns
    -------
    BatchResults
        The TileResults in the order tiles were processed; ``.mosaics``: the
        MosaicResults of the mosaic stage, which runs after the tiles on the
        groups of consecutive processed tiles holding one of this batch's
        (see :mod:`dsa110.pipeline.mosaic`; the batch's end closes every run).
    """
    groups = find_tiles(indir, start=start, end=end, tolerance=config.input.tolerance_s)
    cal_tiles, other_tiles = order_tiles(groups, config)
    out(f"{len(groups)} tile(s) in {indir}: {len(cal_tiles)} with a calibrator transit")
    if use_dask is None:
        use_dask = bool(config.runtime.scheduler) or config.runtime.workers > 1
    # Create (or migrate) the database once, here, not concurrently in each worker.
    from dsa110.pipeline.context import PipelineContext

    PipelineContext(config).session_factory  # noqa: B018 - creates/migrates it
    t0 = time.perf_counter()
    results: list[TileResult] = []
    mosaics = []
    ctx = PipelineContext(config)
    force = config.runtime.force
    if use_dask:
        config_json = config.model_dump_json()
        with start_client(config, out=out) as client:
            for phase in (cal_tiles, other_tiles):
                if not phase:
                    continue
                futures = {
                    client.submit(
                        _tile_task,
                        [str(p) for p in g.paths],
                        config_json,
                        key=f"tile-{g.group_id}-{time.time_ns()}",
                        retries=config.runtime.retries,
                        pure=False,
                    ): g
                    for g in phase
                }
                results += _gather(futures, _failed_tile, "tiles", progress)
            pending = _pending_mosaics(ctx, groups, force)
            futures = {
                client.submit(
                    _mosaic_task,
                    [t.image_id for t in group],
                    config_json,
                    force,
                    key=f"mosaic-{group[0].group_id}-{time.time_ns()}",
                    retries=config.runtime.retries,
                    pure=False,
                ): group
                for group in pending
            }
            mosaics += _gather(futures, _failed_mosaic, "mosaics", progress)
    else:
        with _progress(len(groups), "tiles", progress) as bar:
            for g in [*cal_tiles, *other_tiles]:
                results.append(process_tile(g, config))
                bar.update(1)
        from dsa110.pipeline.mosaic import make_mosaic

        pending = _pending_mosaics(ctx, groups, force)
        with _progress(len(pending), "mosaics", progress) as bar:
            for group in pending:
                mosaics.append(make_mosaic(group, ctx, force=force))
                bar.update(1)
    elapsed = time.perf_counter() - t0
    for r in results:
        if r.status == "failed":
            out(f"  FAILED {r.group_id}: {r.error}")
    for m in mosaics:
        if m.status == "failed":
            out(f"  FAILED mosaic {m.name}: {m.error}")
    n_ok = sum(r.status == "processed" for r in results)
    out(
        f"processed {n_ok}/{len(results)} tile(s) in {elapsed:.1f} s"
        + (
            f" ({np.mean([r.seconds for r in results if r.status == 'processed']):.1f} s per tile)"
            if n_ok
            else ""
        )
        + (
            f"; {sum(m.status == 'made' for m in mosaics)}/{len(mosaics)} mosaic(s) made"
            if mosaics
            else ""
        )
    )
    return BatchResults(results, mosaics)


def _gather(futures, failed, desc, progress):
    """Results of Dask futures in completion order; a lost task becomes a failure.

    Parameters
    ----------
    futures : dict
        ``{future: what it processes}`` (a tile group, or a mosaic's tiles).
    failed : callable
        ``failed(what, exc)`` → the result recorded for a task that raised (e.g.
        ``KilledWorker`` after its retries): the batch goes on.
    desc : str
        Progress-bar label.
    progress : bool
        Show the progress bar.

    Returns
    -------
    list
    """
    from distributed import as_completed

    out = []
    with _progress(len(futures), desc, progress) as bar:
        for fut in as_completed(futures):
            try:
                out.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - recorded, the batch goes on
                out.append(failed(futures[fut], exc))
            bar.update(1)
    return out


def _failed_tile(group, exc):
    return TileResult(group.group_id, "failed", error=f"{type(exc).__name__}: {exc}")


def _pending_mosaics(ctx, groups, force):
    """Mosaics of this batch's tiles still to make (the batch's end closes every run)."""
    from dsa110.pipeline.mosaic import pending_mosaics

    return pending_mosaics(
        ctx, group_ids=[g.group_id for g in groups], final=True, force=force
    )


def _failed_mosaic(group, exc):
    from dsa110.pipeline.mosaic import MosaicResult, mosaic_name

    return MosaicResult(
        mosaic_name(group),
        "failed",
        [t.group_id for t in group],
        error=f"{type(exc).__name__}: {exc}",
    )


def reprocess(start, end, *, indir=None, config=None, **overrides) -> dict:
    """Process every tile of ``indir`` whose start lies in ``[start, end]``.

    The entry point of the service's reprocess jobs (``dsa110.pipeline:reprocess``):
    it runs as one Dask task and processes the tiles one after another inside it.

    Parameters
    ----------
    start, end : str or datetime
        Time range of group starts (ISO UTC).
    indir : path-like, optional, keyword-only
        Directory of subband files (default ``$DSA110_RAW_DIR``).
    config : path-like, optional, keyword-only
        Configuration file.
    **overrides
        ``section.key`` = value configuration overrides.

    Returns
    -------
    dict
        Counts of processed, skipped and failed tiles, and the failures' errors;
        counts of mosaics made and failed, and their errors.

    Raises
    ------
    ConfigurationError
        When no input directory is given or configured.
    """
    import os

    from dsa110.errors import ConfigurationError
    from dsa110.pipeline.config import load_config

    indir = indir or os.environ.get("DSA110_RAW_DIR")
    if not indir:
        raise ConfigurationError(
            "reprocess: no input directory (pass indir= or set DSA110_RAW_DIR)"
        )
    cfg = load_config(config, overrides=[f"{k}={v}" for k, v in overrides.items()])
    _compute_on_this_worker()  # the service submits this function as a Dask task
    results = run_batch(
        indir,
        cfg,
        start=start,
        end=end,
        use_dask=False,
        progress=False,
        out=lambda *a: None,
    )
    return {
        "processed": sum(r.status == "processed" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "errors": {r.group_id: r.error for r in results if r.status == "failed"},
        "mosaics_made": sum(m.status == "made" for m in results.mosaics),
        "mosaics_failed": sum(m.status == "failed" for m in results.mosaics),
        "mosaic_errors": {
            m.name: m.error for m in results.mosaics if m.status == "failed"
        },
    }
