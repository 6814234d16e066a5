"""The mosaic stage: linear mosaics of consecutive tile images, recorded in the DB.

Which tiles make a mosaic
-------------------------
The processed tile images are split into declination strips (pointing
declinations within ``DEC_TOLERANCE_DEG`` of each other) and, within a strip,
into *runs* of consecutive tiles: a run breaks where a tile starts more than
``imaging.mosaic_max_gap_s`` after the previous one ended (default: one tile
length: a single missing or failed tile does not break a run — DSA-110's
4°-wide fields drift by ~1.3° per tile, so it leaves lower sensitivity in the
mosaic, not a hole — two do). Each run is cut, from its
first tile, into groups of ``imaging.mosaic_tiles`` tiles (11 × 309 s ≈ an
hour). The shorter last group of a run (≥ 2 tiles) is mosaicked when
``imaging.mosaic_partial`` is set and the run is over: a later tile of the
strip exists beyond the gap, or a batch has ended (``final=True``). A streaming
watcher therefore waits for a run's trailing group to fill up or be closed.

Idempotence and replacement
---------------------------
A mosaic is identified by the set of its member tile images. A group whose
exact set is already a mosaic is skipped unless forced (a forced rerun replaces
it). An existing mosaic that shares tiles with a new group but is not the same
set (a partial mosaic now filled up, or groups shifted because a missing tile
was processed later) is retired — its rows and files removed — when the new one
is recorded, so every tile image is in at most one mosaic. Reprocessing a tile
(forced) retires the mosaics it belonged to (:func:`retire_mosaics_of`); the
next mosaic pass makes them again from the new image.

The science is :func:`dsa110.imaging.mosaic.mosaic_fits` (weights PB² / σ²,
one SIN grid chosen across RA 0/360); this module only chooses the members,
writes under a temporary name, renames into place and records.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsa110.pipeline.context import PipelineContext, code_version
from dsa110.pipeline.logs import JobLog

__all__ = [
    "DEC_TOLERANCE_DEG",
    "MosaicResult",
    "TileImage",
    "plan_mosaics",
    "mosaic_tile_images",
    "make_mosaic",
    "make_mosaics",
    "retire_mosaics_of",
]

#: Tiles whose pointing declinations differ by less than this are one strip, degrees.
DEC_TOLERANCE_DEG = 0.5


@dataclass(frozen=True)
class TileImage:
    """A processed tile image, as the mosaic planner sees it.

    Attributes
    ----------
    image_id : int
        Database id of the tile's ``Image`` row.
    group_id : str
    start, end : datetime.datetime
        The tile's observation start and end (UTC).
    dec_deg : float
        Pointing declination, degrees.
    """

    image_id: int
    group_id: str
    start: dt.datetime
    end: dt.datetime
    dec_deg: float


@dataclass
class MosaicResult:
    """What happened to one group of tiles.

    Attributes
    ----------
    name : str
    status : {"made", "skipped", "failed", "locked"}
    members : list of str
        The member tiles' group ids, in time order.
    path : str or None
        The mosaic FITS file.
    error : str or None
    seconds : float
    retired : list of str
        Names of earlier mosaics this one replaced.
    """

    name: str
    status: str
    members: list
    path: str | None = None
    error: str | None = None
    seconds: float = 0.0
    retired: list = field(default_factory=list)


def _strips(tiles):
    """Split tiles into declination strips (lists sorted by start)."""
    strips: list[list[TileImage]] = []
    for tile in sorted(tiles, key=lambda t: t.dec_deg):
        if strips and tile.dec_deg - strips[-1][-1].dec_deg <= DEC_TOLERANCE_DEG:
            strips[-1].append(tile)
        else:
            strips.append([tile])
    return [sorted(s, key=lambda t: (t.start, t.group_id)) for s in strips]


def plan_mosaics(
    tiles,
    *,
    n_tiles: int,
    max_gap_s: float | None = None,
    partial: bool = True,
    final: bool = False,
) -> list[list[TileImage]]:
    """Choose the groups of consecutive tiles to mosaic (see the module's text).

    Parameters
    ----------
    tiles : iterable of TileImage
    n_tiles : int, keyword-only
        Tiles per mosaic (≥ 2).
    max_gap_s : float, optional, keyword-only
        Largest gap between one tile's end and the next one's start, s
        (default: the earlier tile's length).
    partial : bool, keyword-only
        Include the shorter last group (≥ 2 tiles) of a run that is over.
    final : bool, keyword-only
        Treat every run as over (the end of a batch); otherwise only runs
        followed by a later tile of their strip are.

    Returns
    -------
    list of list of TileImage
        Each group in time order; groups in strip and time order.

    Raises
    ------
    ValueError
        For ``n_tiles < 2``.
    """
    if n_tiles < 2:
        raise ValueError(f"n_tiles={n_tiles}: a mosaic needs at least 2 tiles")
    groups = []
    for strip in _strips(tiles):
        runs = [[strip[0]]]
        for prev, tile in zip(strip, strip[1:]):
            gap = (tile.start - prev.end).total_seconds()
            limit = (
                (prev.end - prev.start).total_seconds()
                if max_gap_s is None
                else max_gap_s
            )
            if gap <= limit:
                runs[-1].append(tile)
            else:
                runs.append([tile])
        for k, run in enumerate(runs):
            over = final or k < len(runs) - 1
            for i in range(0, len(run), n_tiles):
                chunk = run[i : i + n_tiles]
                if len(chunk) == n_tiles or (partial and over and len(chunk) >= 2):
                    groups.append(chunk)
    return groups


def mosaic_name(members) -> str:
    """Name a mosaic by its first tile and size: ``mosaic-2026-11-24T05:40:00-n11``."""
    return f"mosaic-{members[0].group_id}-n{len(members)}"


def _tile_images(session, group_ids=None):
    """Return the processed tile images (with their observations) as TileImages."""
    from sqlalchemy import select

    from dsa110.db.models import Image, Observation

    stmt = (
        select(
            Image.id,
            Observation.group_id,
            Observation.start_time,
            Observation.end_time,
            Observation.dec_deg,
        )
        .join(Observation, Observation.id == Image.observation_id)
        .where(Image.kind == "tile", Observation.status == "processed")
    )
    if group_ids is not None:
        stmt = stmt.where(Observation.group_id.in_(list(group_ids)))
    return [TileImage(*row) for row in session.execute(stmt)]


def _member_sets(session) -> dict[int, frozenset]:
    """Every mosaic's set of member image ids."""
    from sqlalchemy import select

    from dsa110.db.models import MosaicMember

    sets: dict[int, set] = {}
    for mosaic_id, image_id in session.execute(
        select(MosaicMember.mosaic_id, MosaicMember.image_id)
    ):
        sets.setdefault(mosaic_id, set()).add(image_id)
    return {k: frozenset(v) for k, v in sets.items()}


def _retire(session, mosaic_ids) -> tuple[list[str], list[Path]]:
    """Delete mosaics' rows (image, members, products, provenance).

    Returns the retired mosaics' names and product directories (the caller
    removes the directories once the transaction is committed).
    """
    from sqlalchemy import delete, select

    from dsa110.db.models import Image, Product

    names, dirs = [], []
    for image in list(
        session.scalars(select(Image).where(Image.id.in_(list(mosaic_ids))))
    ):
        folder = Path(image.product.path).parent
        names.append(image.name)
        dirs.append(folder)
        session.execute(delete(Image).where(Image.id == image.id))
        # LIKE narrows the search; the exact folder test is done here.
        ids = [
            pid
            for pid, path in session.execute(
                select(Product.id, Product.path).where(
                    Product.path.like(f"{folder}{os.sep}%")
                )
            )
            if Path(path).parent == folder
        ]
        session.execute(delete(Product).where(Product.id.in_(ids)))
    session.expire_all()
    return names, dirs


def retire_mosaics_of(session, image_ids) -> list[Path]:
    """Retire every mosaic that has one of ``image_ids`` as a member.

    Called before a tile's records are replaced (a forced rerun), so no mosaic
    keeps pointing at an image that is gone. The caller commits, then removes
    the returned directories.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    image_ids : iterable of int
        Tile image ids.

    Returns
    -------
    list of Path
        The retired mosaics' product directories.
    """
    ids = set(int(i) for i in image_ids)
    hit = [m for m, members in _member_sets(session).items() if members & ids]
    return _retire(session, hit)[1] if hit else []


def _publish(tmp_dir: Path, final_dir: Path) -> None:
    if final_dir.exists():
        old = final_dir.with_name(final_dir.name + f".old-{os.getpid()}")
        final_dir.rename(old)
        tmp_dir.rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp_dir.rename(final_dir)


def _footprint(mosaic_path: Path):
    """Return a mosaic's centre, radius (to its farthest covered pixel), shape."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(mosaic_path) as hdul:
        header = hdul[0].header
        data = np.asarray(hdul[0].data).reshape(hdul[0].data.shape[-2:])
    wcs = WCS(header).celestial
    ny, nx = data.shape
    centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    ys, xs = np.nonzero(np.isfinite(data))
    step = max(1, ys.size // 20000)
    edge = wcs.pixel_to_world(xs[::step], ys[::step])
    radius = float(np.max(centre.separation(edge).deg)) if ys.size else 0.0
    cell = float(abs(wcs.wcs.cdelt[1]) * 3600)
    return (
        float(centre.ra.deg) % 360,
        float(centre.dec.deg),
        radius,
        nx,
        ny,
        cell,
        header,
    )


def mosaic_tile_images(image_ids, config, *, force: bool = False) -> MosaicResult:
    """Mosaic the given tile images and record the mosaic (one unit of work).

    Parameters
    ----------
    image_ids : sequence of int
        Database ids of processed tile images (in any order).
    config : PipelineConfig
    force : bool, keyword-only
        Remake (replace) a mosaic of exactly these images.

    Returns
    -------
    MosaicResult
        ``status`` is ``"failed"`` (with ``error``) rather than raising, so a
        batch continues; the failure is recorded with its job.
    """
    from dsa110.db import session_scope

    ctx = PipelineContext(config)
    with session_scope(ctx.session_factory) as session:
        by_id = {t.image_id: t for t in _tile_images(session)}
    missing = [i for i in image_ids if int(i) not in by_id]
    if missing:
        return MosaicResult(
            "?", "failed", [], error=f"tile image(s) {missing} are not processed tiles"
        )
    members = sorted((by_id[int(i)] for i in image_ids), key=lambda t: t.start)
    return make_mosaic(members, ctx, force=force)


def make_mosaic(members, ctx: PipelineContext, *, force: bool = False) -> MosaicResult:
    """Make, write and record one mosaic of consecutive tiles.

    Parameters
    ----------
    members : list of TileImage
        In time order.
    ctx : PipelineContext
    force : bool, keyword-only

    Returns
    -------
    MosaicResult
    """
    from dsa110.db import LockHeldError, hold_lock

    start = time.perf_counter()
    name = mosaic_name(members)
    gids = [m.group_id for m in members]
    try:
        with hold_lock(ctx.session_factory, f"mosaic:{name}"):
            return _make_locked(members, ctx, name, gids, force, start)
    except LockHeldError as exc:
        return MosaicResult(
            name, "locked", gids, error=str(exc), seconds=time.perf_counter() - start
        )


def _make_locked(members, ctx, name, gids, force, start) -> MosaicResult:
    from sqlalchemy import select

    from dsa110.db import (
        ImageRepository,
        JobRepository,
        NotFoundError,
        ProductRepository,
        session_scope,
    )
    from dsa110.db.models import Image, Job
    from dsa110.imaging.fits import from_fits_array, write_png_quicklook
    from dsa110.imaging.mosaic import mosaic_fits
    from dsa110.pipeline.stages import utc_datetime

    cfg = ctx.config
    ids = frozenset(m.image_id for m in members)
    with session_scope(ctx.session_factory) as session:
        sets = _member_sets(session)
        same = [k for k, v in sets.items() if v == ids]
        if same and not force:
            return MosaicResult(
                name, "skipped", gids, seconds=time.perf_counter() - start
            )
        # We hold the lock: a "running" mosaic job of this name is a dead run's.
        jobs = JobRepository(session)
        for stale in session.scalars(
            select(Job).where(Job.kind == "mosaic", Job.state == "running")
        ):
            if (stale.parameters or {}).get("name") == name:
                jobs.mark_finished(
                    stale.id, error="abandoned: its process died before finishing"
                )
        params = {
            "name": name,
            "members": gids,
            "method": "linear mosaic, weights PB^2 / sigma^2 (dsa110.imaging.mosaic)",
            "pb_limit": cfg.imaging.pb_limit,
            "mosaic_tiles": cfg.imaging.mosaic_tiles,
            "mosaic_partial": cfg.imaging.mosaic_partial,
            "mosaic_max_gap_s": cfg.imaging.mosaic_max_gap_s,
        }
        job = jobs.create("mosaic", parameters=params)
        jobs.mark_running(job.id, runner_key=f"{socket.gethostname()}:{os.getpid()}")
        job_id = job.id
        images = list(session.scalars(select(Image).where(Image.id.in_(list(ids)))))
        paths = {i.id: Path(i.product.path) for i in images}
        tiles = {i.id: i for i in images}
    log = JobLog(ctx.subdir("logs") / f"job-{job_id}.jsonl", mosaic=name, job_id=job_id)
    final_dir = ctx.subdir("products", "mosaics") / name
    tmp_dir = final_dir.with_name(f".{name}.tmp-{os.getpid()}")
    for leftover in final_dir.parent.glob(f".{name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    result = MosaicResult(name, "failed", gids)
    try:
        with log.stage("mosaic"):
            inputs = [paths[m.image_id] for m in members]
            tmp_dir.mkdir(parents=True)
            made = mosaic_fits(
                [str(p) for p in inputs], tmp_dir / name, pb_limit=cfg.imaging.pb_limit
            )
            from astropy.io import fits

            with fits.open(made["mosaic"]) as hdul:
                header = hdul[0].header.copy()
                data = np.asarray(hdul[0].data).reshape(hdul[0].data.shape[-2:])
            write_png_quicklook(tmp_dir / f"{name}.png", from_fits_array(data), header)
            del data
        with log.stage("record"):
            _publish(tmp_dir, final_dir)
            fpath = final_dir / f"{name}.fits"
            ra, dec, radius, nx, ny, cell, header = _footprint(fpath)
            with fits.open(final_dir / f"{name}-noise.fits") as hdul:
                noise = np.asarray(hdul[0].data)
            rms = float(np.nanmedian(noise)) if np.isfinite(noise).any() else None
            del noise
            with session_scope(ctx.session_factory) as session:
                prepo = ProductRepository(session)
                input_products = []
                for p in inputs:
                    input_products.append(prepo.get_by_path(p).id)
                    beam = Path(str(p)[: -len("-image-pb.fits")] + "-pb.fits")
                    try:
                        input_products.append(prepo.get_by_path(beam).id)
                    except NotFoundError:  # a tile recorded without its beam file
                        pass
                # Retire the same set (forced) and any overlapping mosaic replaced.
                overlapping = [k for k, v in _member_sets(session).items() if v & ids]
                result.retired, old_dirs = _retire(session, overlapping)
                registered = {}
                for suffix, kind in (
                    ("", "mosaic"),
                    ("-weight", "mosaic"),
                    ("-noise", "mosaic"),
                    (".png", "plot"),
                ):
                    path = final_dir / (
                        f"{name}{suffix}" + ("" if suffix == ".png" else ".fits")
                    )
                    registered[suffix] = prepo.register(
                        kind,
                        path,
                        code_version=code_version(),
                        parameters=params,
                        inputs_products=input_products,
                        job_id=job_id,
                    )
                member_rows = [tiles[m.image_id] for m in members]
                mid = np.mean([r.obs_time.timestamp() for r in member_rows])
                ImageRepository(session).add(
                    registered[""],
                    name=name,
                    kind="mosaic",
                    obs_time=utc_datetime(mid),
                    ra_deg=ra,
                    dec_deg=dec,
                    radius_deg=radius,
                    n_x=nx,
                    n_y=ny,
                    cell_arcsec=cell,
                    frequency_hz=float(np.mean([r.frequency_hz for r in member_rows])),
                    bandwidth_hz=float(np.mean([r.bandwidth_hz for r in member_rows])),
                    rms_jy=rms,
                    beam_major_arcsec=_median_or_none(
                        r.beam_major_arcsec for r in member_rows
                    ),
                    beam_minor_arcsec=_median_or_none(
                        r.beam_minor_arcsec for r in member_rows
                    ),
                    beam_pa_deg=_median_or_none(r.beam_pa_deg for r in member_rows),
                    members=[m.image_id for m in members],
                )
            for d in old_dirs:
                if d != final_dir:
                    shutil.rmtree(d, ignore_errors=True)
        result.status, result.path = "made", str(fpath)
    except Exception as exc:  # noqa: BLE001 - a failed mosaic is recorded, the batch goes on
        result.error = f"{type(exc).__name__}: {exc}"
        log.event("error", error=result.error, traceback=traceback.format_exc())
        shutil.rmtree(tmp_dir, ignore_errors=True)
    finally:
        result.seconds = time.perf_counter() - start
        log.event("finished", status=result.status, seconds=result.seconds)
        with session_scope(ctx.session_factory) as session:
            repo = JobRepository(session)
            repo.append_log(job_id, log.text())
            repo.mark_finished(job_id, error=result.error)
    return result


def _median_or_none(values):
    vals = [float(v) for v in values if v is not None]
    return float(np.median(vals)) if vals else None


def pending_mosaics(
    ctx: PipelineContext, *, group_ids=None, final: bool = False, force: bool = False
) -> list[list[TileImage]]:
    """Return the groups the mosaic stage would make now.

    Parameters
    ----------
    ctx : PipelineContext
    group_ids : iterable of str, optional, keyword-only
        Only groups holding one of these tiles (default: every group).
    final : bool, keyword-only
        The end of a batch: runs are over (see :func:`plan_mosaics`).
    force : bool, keyword-only
        Include groups that are already mosaics.

    Returns
    -------
    list of list of TileImage
    """
    from dsa110.db import session_scope

    im = ctx.config.imaging
    if not im.mosaic:
        return []
    with session_scope(ctx.session_factory) as session:
        tiles = _tile_images(session)
        existing = set(_member_sets(session).values())
    groups = plan_mosaics(
        tiles,
        n_tiles=im.mosaic_tiles,
        max_gap_s=im.mosaic_max_gap_s,
        partial=im.mosaic_partial,
        final=final,
    )
    if group_ids is not None:
        wanted = set(group_ids)
        groups = [g for g in groups if wanted & {t.group_id for t in g}]
    if not force:
        groups = [g for g in groups if frozenset(t.image_id for t in g) not in existing]
    return groups


def make_mosaics(
    ctx: PipelineContext, *, group_ids=None, final: bool = False, force: bool = False
) -> list[MosaicResult]:
    """Run the mosaic stage here: make every pending mosaic, one after another.

    Parameters
    ----------
    ctx : PipelineContext
    group_ids, final, force : keyword-only
        As :func:`pending_mosaics`.

    Returns
    -------
    list of MosaicResult
    """
    return [
        make_mosaic(g, ctx, force=force)
        for g in pending_mosaics(ctx, group_ids=group_ids, final=final, force=force)
    ]
