"""Processing one tile end to end, recorded in the database.

:func:`process_tile` is the unit of work of every runner (``dsa110 run``,
``reprocess`` on a Dask cluster, ``watch``): it holds a per-group lock, skips
groups already processed (unless forced), runs the stages, writes products
under temporary names and renames them into place, records everything with
provenance, and records a failure (with its error) instead of raising, so a
batch goes on.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsa110.errors import GroupError
from dsa110.io.groups import ObservationGroup, group_files
from dsa110.pipeline.config import PipelineConfig
from dsa110.pipeline.context import PipelineContext, code_version
from dsa110.pipeline.logs import JobLog
from dsa110.pipeline.stages import (
    choose_calibration,
    clean_mask_centres,
    flag_tile,
    image_tile_products,
    measure_image,
    open_tile,
    outlier_sources,
    utc_datetime,
)

__all__ = ["TileResult", "process_tile", "as_group"]


@dataclass
class TileResult:
    """What happened to one tile.

    Attributes
    ----------
    group_id : str
    status : {"processed", "skipped", "failed", "locked"}
    seconds : float
    error : str or None
    image : str or None
        Path of the primary-beam-corrected image.
    n_measurements : int
    calibrator : str or None
        The calibrator of the solutions applied.
    solved_here : bool
    rms : float or None
        Image noise, Jy/beam.
    timings : dict
        Seconds per stage.
    """

    group_id: str
    status: str
    seconds: float = 0.0
    error: str | None = None
    image: str | None = None
    n_measurements: int = 0
    calibrator: str | None = None
    solved_here: bool = False
    rms: float | None = None
    timings: dict = field(default_factory=dict)


def as_group(group) -> ObservationGroup:
    """Accept an ObservationGroup, a directory of one group, or a list of files."""
    if isinstance(group, ObservationGroup):
        return group
    from dsa110.io.observation import resolve_inputs

    groups = group_files(resolve_inputs(group))
    if len(groups) != 1:
        raise ValueError(f"expected the files of one group, got {len(groups)} groups")
    return groups[0]


def _file_key(path) -> str:
    """How a raw file is recorded: its absolute path, symbolic links resolved."""
    return str(Path(path).resolve())


def _register_observation(ctx, group: ObservationGroup, ds):
    """Record the tile (or refresh its record) with the files of this run.

    A rerun's observation keeps its id; its times, pointing, completeness and
    file list become this run's (a subband that arrived late is registered).
    """
    from sqlalchemy import delete

    from dsa110.db import NotFoundError, ObservationRepository, session_scope
    from dsa110.db.models import ObservationFile

    times = np.asarray(ds["time"].values)
    half = float(np.median(ds["integration_time"].values)) / 2
    ra = float(
        np.degrees(
            np.arctan2(
                np.mean(np.sin(ds["phase_center_ra"].values)),
                np.mean(np.cos(ds["phase_center_ra"].values)),
            )
        )
        % 360
    )
    record = {
        "start_time": utc_datetime(times[0] - half),
        "end_time": utc_datetime(times[-1] + half),
        "dec_deg": float(np.degrees(ds.attrs["pointing_dec"])),
        "ra_deg": ra,
        "status": "complete" if group.complete else "incomplete",
    }
    with session_scope(ctx.session_factory) as session:
        repo = ObservationRepository(session)
        try:
            obs = repo.get_by_group(group.group_id)
        except NotFoundError:
            obs = repo.add(group.group_id, **record)
        else:
            for key, value in record.items():
                setattr(obs, key, value)
            session.execute(
                delete(ObservationFile).where(ObservationFile.observation_id == obs.id)
            )
            session.expire(obs, ["files"])
        for f in group.files:
            repo.add_file(
                obs,
                _file_key(f.path),
                subband=f.subband,
                start_time=f.timestamp,
                size_bytes=f.path.stat().st_size,
            )
        return obs.id, obs.status


def _already_processed(ctx, group_id: str) -> bool:
    from dsa110.db import NotFoundError, ObservationRepository, session_scope

    with session_scope(ctx.session_factory) as session:
        try:
            return (
                ObservationRepository(session).get_by_group(group_id).status
                == "processed"
            )
        except NotFoundError:
            return False


def _tile_observations(session, group: ObservationGroup) -> list:
    """Return the observations recorded of this tile, oldest first.

    Its own group id's, and those of runs on part of its files: a run without
    the tile's earliest file recorded it under a later file's timestamp.
    """
    from sqlalchemy import or_, select

    from dsa110.db.models import Observation, ObservationFile

    holding = select(ObservationFile.observation_id).where(
        ObservationFile.path.in_([_file_key(p) for p in group.paths])
    )
    return list(
        session.scalars(
            select(Observation)
            .where(
                or_(
                    Observation.group_id.in_(group.partial_ids),
                    Observation.id.in_(holding),
                )
            )
            .order_by(Observation.id)
        )
    )


def _check_supersedes(group: ObservationGroup, others, force: bool) -> None:
    """Refuse to replace, unforced, a recorded tile made of files this group lacks."""
    from dsa110.errors import GroupError

    names = {Path(p).name for p in group.paths}
    for obs in others:
        lacking = {Path(f.path).name for f in obs.files} - names
        if lacking and not force:
            raise GroupError(
                f"tile {group.group_id}: its files are recorded as tile "
                f"{obs.group_id} ({obs.status}, {obs.n_files} files), which also "
                f"holds {', '.join(sorted(lacking))} that this group lacks: run "
                "all of that tile's files together, or pass --force to replace "
                "it with this group"
            )


def _retire_previous(ctx, group: ObservationGroup, *, force: bool):
    """Before a (re)run: remove the tile's earlier records.

    The tile's images, measurements, products and calibration sets are removed
    from the database (the files are replaced when the new products are
    renamed into place), and so are those of a run on part of its files under
    another group id (its earliest files had not arrived): that observation
    becomes this group's, and its product folder is deleted. A calibration set
    that other tiles' products were calibrated with is kept, superseded
    (:func:`_supersede_calibration`).

    The variability store keeps the measurements it already folded in (its
    update is idempotent per image), so a forced rerun does not count an epoch twice.

    Returns
    -------
    observation_id : int or None
        The tile's observation (status "processing"), if one was recorded.
    superseded : list of str
        The other group ids the tile was recorded under.

    Raises
    ------
    GroupError
        From :func:`_check_supersedes`.
    """
    from dsa110.db import session_scope

    with session_scope(ctx.session_factory) as session:
        found = _tile_observations(session, group)
        if not found:
            return None, []
        own = [obs for obs in found if obs.group_id == group.group_id]
        others = [obs for obs in found if obs.group_id != group.group_id]
        _check_supersedes(group, others, force)
        superseded = [obs.group_id for obs in others]
        folders = []
        for obs in found:
            folders += _retire_records(session, obs)
        keep = (own or others)[0]
        for obs in found:
            if obs is not keep:
                session.delete(obs)
        session.flush()
        keep.group_id = group.group_id
        keep.status = "processing"
        keep_id = keep.id
    folders += [ctx.subdir("products") / gid for gid in superseded]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return keep_id, superseded


def _retire_records(session, obs) -> list[Path]:
    """Remove one observation's records; return the folders to delete once committed.

    Its images, measurements, products and calibration sets go, but for the
    sets (and their tables) other tiles were calibrated with: superseded.
    """
    from sqlalchemy import delete, select

    from dsa110.db.models import CalibrationSet, Image, Measurement, Product
    from dsa110.pipeline.mosaic import retire_mosaics_of

    images = select(Image.id).where(Image.observation_id == obs.id)
    # Mosaics made of this tile's image go too; the next mosaic pass
    # makes them again from the new image.
    folders = retire_mosaics_of(session, session.scalars(images).all())
    session.execute(delete(Measurement).where(Measurement.image_id.in_(images)))
    sets = session.scalars(
        select(CalibrationSet).where(CalibrationSet.name.like(f"{obs.group_id}-%"))
    ).all()
    for calset in sets:
        if _used_elsewhere(session, calset, obs):
            _supersede_calibration(session, calset)
        else:
            folders += [
                Path(p)
                for p in session.scalars(
                    select(Product.path).where(
                        Product.calibration_set_id == calset.id,
                        Product.kind == "caltable",
                    )
                )
            ]
            session.delete(calset)
    session.flush()
    superseded_tables = select(Product.id).where(
        Product.kind == "caltable",
        Product.calibration_set_id.in_(
            select(CalibrationSet.id).where(
                CalibrationSet.name.like(f"{SUPERSEDED_PREFIX}%")
            )
        ),
    )
    session.execute(
        delete(Product).where(
            Product.observation_id == obs.id, Product.id.notin_(superseded_tables)
        )
    )
    return folders


#: How the name of a superseded calibration set begins.
SUPERSEDED_PREFIX = "superseded "


def _used_elsewhere(session, calset, obs) -> bool:
    """Whether another tile's products were calibrated with ``calset``."""
    from sqlalchemy import or_, select

    from dsa110.db.models import Product

    other = select(Product.id).where(
        Product.calibration_set_id == calset.id,
        or_(Product.observation_id.is_(None), Product.observation_id != obs.id),
    )
    return session.scalars(other.limit(1)).first() is not None


def _supersede_calibration(session, calset) -> None:
    """Keep a calibration set other tiles' products were made with, retired.

    Deleting it would cut those products' calibration links and provenance.
    It is renamed ``superseded <time>: <name>`` (its name is the new set's),
    marked failed for selection (``qa_passed`` false; its own verdict is kept
    in ``qa``), and its solution table is moved aside (the rerun writes the
    tile's table anew) with its product record following it.
    """
    from sqlalchemy import select

    from dsa110.db.models import Product, utcnow

    when = utcnow().strftime("%Y-%m-%dT%H:%M:%S")
    calset.qa = {
        **(calset.qa or {}),
        "superseded_at": when,
        "qa_passed": calset.qa_passed,
    }
    calset.qa_passed = False
    calset.name = f"{SUPERSEDED_PREFIX}{when}: {calset.name}"[:128]
    tables = session.scalars(
        select(Product).where(
            Product.calibration_set_id == calset.id, Product.kind == "caltable"
        )
    )
    for table in tables:
        old = Path(table.path)
        aside = old.with_name(f"{old.stem}.superseded-{calset.id}{old.suffix}")
        if old.exists():
            old.rename(aside)
        table.path = str(aside)


def _set_status(ctx, observation_id, status, qa=None):
    from dsa110.db import ObservationRepository, session_scope

    with session_scope(ctx.session_factory) as session:
        ObservationRepository(session).set_status(observation_id, status, qa=qa)


def _publish(tmp_dir: Path, final_dir: Path) -> None:
    """Move a finished product directory into place, replacing an older one whole."""
    if final_dir.exists():
        old = final_dir.with_name(final_dir.name + f".old-{os.getpid()}")
        final_dir.rename(old)
        tmp_dir.rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp_dir.rename(final_dir)


def _record_products(
    ctx, *, obs_id, job_id, calset_id, group, products, files, final_dir, rms
):
    """Register the image products, the image, and return the image's database id."""
    from sqlalchemy import select

    from dsa110.db import ImageRepository, ProductRepository, session_scope
    from dsa110.db.models import ObservationFile, Product

    params = ctx.config.imaging.model_dump(mode="json")
    with session_scope(ctx.session_factory) as session:
        prepo = ProductRepository(session)
        file_ids = list(
            session.scalars(
                select(ObservationFile.id).where(
                    ObservationFile.observation_id == obs_id
                )
            )
        )
        caltables = (
            []
            if calset_id is None
            else list(
                session.scalars(
                    select(Product.id).where(
                        Product.calibration_set_id == calset_id,
                        Product.kind == "caltable",
                    )
                )
            )
        )
        registered = {}
        for name, path in files.items():
            kind = "plot" if str(path).endswith(".png") else "image"
            final = final_dir / Path(path).name
            registered[name] = prepo.register(
                kind,
                final,
                code_version=code_version(),
                parameters=params,
                inputs_files=file_ids,
                inputs_products=caltables,
                job_id=job_id,
                observation_id=obs_id,
                calibration_set_id=calset_id,
            )
        n = products.restored.shape[0]
        image = ImageRepository(session).add(
            registered["image-pb"],
            name=f"{group.group_id}-image-pb",
            obs_time=utc_datetime(products.mid_time),
            ra_deg=float(np.degrees(products.centre[0])) % 360,
            dec_deg=float(np.degrees(products.centre[1])),
            radius_deg=n * products.cell_arcsec / 3600 / 2,
            n_x=n,
            n_y=n,
            cell_arcsec=products.cell_arcsec,
            frequency_hz=products.ref_frequency,
            bandwidth_hz=products.bandwidth,
            kind="tile",
            observation_id=obs_id,
            rms_jy=rms,
            beam_major_arcsec=products.beam.bmaj,
            beam_minor_arcsec=products.beam.bmin,
            beam_pa_deg=products.beam.bpa,
        )
        return image.id


def _record_measurements(ctx, measurements, image_db_id):
    """Store measurements (creating catalog sources on first sight)."""
    from dsa110.db import SourceRepository, session_scope

    if measurements.empty:
        return {}
    with session_scope(ctx.session_factory) as session:
        repo = SourceRepository(session)
        ids = repo.ensure(
            {
                "name": row.source_id,
                "ra_deg": float(row.ra),
                "dec_deg": float(row.dec),
                "catalog": ctx.config.photometry.survey,
            }
            for row in measurements.itertuples(index=False)
        )
        repo.add_measurements(
            None,
            [
                {
                    "source_id": ids[row.source_id],
                    "time": utc_datetime((row.time - 40587.0) * 86400.0),
                    "flux_jy": float(row.flux),
                    "flux_err_jy": float(row.flux_err),
                    "snr": float(row.snr),
                    "forced": True,
                    "image_id": image_db_id,
                    "flagged": not bool(row.qa_ok),
                }
                for row in measurements.itertuples(index=False)
            ],
        )
    return ids


def _folded_in(ctx, image_ids) -> bool:
    """Whether the variability store holds measurements of one of ``image_ids``."""
    done = ctx.variability_store.corrections()
    return bool(done["image_id"].isin(list(image_ids)).any())


def _update_variability(ctx, measurements, source_ids):
    """Incremental metrics and ESE candidates, mirrored into the database.

    The store's update is a read-modify-write of its state files and the
    candidate check a read-then-insert, so tiles processed at once (a Dask
    batch) take turns here, under a database lock named after the store.
    """
    import hashlib

    from dsa110.db import hold_lock

    store = ctx.variability_store
    # Lock names are at most 128 characters: the store's path is hashed.
    key = hashlib.sha1(str(store.directory.resolve()).encode()).hexdigest()[:16]
    with hold_lock(ctx.session_factory, f"variability:{key}", wait=600.0):
        return _update_variability_locked(ctx, store, measurements, source_ids)


def _update_variability_locked(ctx, store, measurements, source_ids):
    from dsa110.db import CandidateRepository, SourceRepository, session_scope

    cfg = ctx.config.variability
    store.update(measurements, source="tile measurements")
    metrics = store.metrics()
    touched = metrics.loc[metrics.index.intersection(list(source_ids))]
    thresholds = cfg.thresholds()
    candidates = store.candidates(preset=thresholds, min_epochs=cfg.min_epochs)
    if len(candidates):
        from dsa110.variability import composite_score

        # Scored on the named preset's scale (a replaced threshold may be 0).
        candidates["score"] = composite_score(candidates, preset=cfg.preset)
    with session_scope(ctx.session_factory) as session:
        srepo = SourceRepository(session)
        for name, row in touched.iterrows():
            srepo.set_variability(
                source_ids[name],
                n_measurements=int(row["n"]),
                mean_flux_jy=float(row["mean_flux"]),
                std_flux_jy=_finite(row["std_flux"], 0.0),
                modulation_index=_finite(row["v"], 0.0),
                eta=_finite(row["eta"], 0.0),
                chi2_reduced=_finite(row["chi2_nu"], 0.0),
                max_deviation_sigma=_finite(row["sigma_dev"]),
            )
        crepo = CandidateRepository(session)
        existing = {c.source_id for c in crepo.list(kind="ese", limit=10_000).items}
        for name, row in candidates.iterrows():
            if (
                name not in source_ids
                or source_ids[name] in existing
                or not bool(row.get("is_ese", True))
            ):
                continue
            crepo.add(
                source_ids[name],
                score=float(row["score"]),
                time_start=utc_datetime((float(row["time_start"]) - 40587.0) * 86400.0),
                time_end=utc_datetime((float(row["time_stop"]) - 40587.0) * 86400.0),
                kind="ese",
                details={
                    "preset": cfg.preset,
                    "thresholds": {
                        "sigma_dev": thresholds.sigma_dev,
                        "chi2_nu": thresholds.chi2_nu,
                        "eta": thresholds.eta,
                    },
                    "label": str(row.get("label", "")),
                    "selected_by": str(row.get("selected_by", "thresholds")),
                    "sigma_dev": float(row["sigma_dev"]),
                    "chi2_nu": float(row["chi2_nu"]),
                    "eta": float(row["eta"]),
                },
            )
    return len(candidates)


def process_tile(
    group, config: PipelineConfig, *, force: bool | None = None
) -> TileResult:
    """Process one tile: open, flag, calibrate, image, measure, update variability.

    Parameters
    ----------
    group : ObservationGroup, path-like or sequence of path-like
        The tile's files.
    config : PipelineConfig
    force : bool, optional, keyword-only
        Reprocess a tile already processed (default: ``config.runtime.force``).

    Returns
    -------
    TileResult
        ``status`` is ``"failed"`` (with ``error``) rather than raising for a
        bad tile, so that a batch continues.
    """
    from dsa110._compat.memory import release_free_memory
    from dsa110.db import LockHeldError, hold_lock
    from dsa110.io.h5handle import close_files

    start = time.perf_counter()
    ctx = PipelineContext(config)
    group = as_group(group)
    force = config.runtime.force if force is None else force
    if not force and _already_processed(ctx, group.group_id):
        return TileResult(group.group_id, "skipped", time.perf_counter() - start)
    try:
        # The lock is refreshed while the tile runs; a killed run's lock is
        # taken over at once on this host, or after its expiry elsewhere.
        with hold_lock(ctx.session_factory, f"tile:{group.group_id}"):
            if not force and _already_processed(ctx, group.group_id):
                return TileResult(
                    group.group_id, "skipped", time.perf_counter() - start
                )
            # Holding the lock, and the tile not processed (or forced): any
            # records of it are a forced rerun's predecessors, a run's on part
            # of its files, or the partial records of a run that failed or died
            # (a calibration set already registered, measurements): remove them
            # so they are not doubled.
            try:
                obs_id, superseded = _retire_previous(ctx, group, force=force)
            except GroupError as exc:
                return TileResult(
                    group.group_id, "failed", time.perf_counter() - start, str(exc)
                )
            try:
                return _run_locked(ctx, group, start, obs_id, superseded)
            finally:
                # A worker process runs many tiles: let go of this one's files,
                # and of the heap pages its arrays left free (else the process
                # grows from tile to tile)
                close_files(group.paths)
                release_free_memory()
    except LockHeldError as exc:
        return TileResult(
            group.group_id, "locked", time.perf_counter() - start, error=str(exc)
        )


def _run_locked(
    ctx: PipelineContext,
    group: ObservationGroup,
    start: float,
    obs_id: int | None,
    superseded: list[str],
) -> TileResult:
    from dsa110.db import JobRepository, session_scope

    cfg = ctx.config
    result = TileResult(group.group_id, "failed")
    with session_scope(ctx.session_factory) as session:
        # We hold the tile's lock, so a job of this tile still marked running
        # belongs to a process that died (a killed worker): close it.
        jobs = JobRepository(session)
        for stale in jobs.list(state="running", kind="tile", limit=10_000).items:
            if (stale.parameters or {}).get("group_id") == group.group_id:
                jobs.mark_finished(
                    stale.id, error="abandoned: its process died before finishing"
                )
        job = JobRepository(session).create(
            "tile",
            parameters={
                "group_id": group.group_id,
                "config": cfg.model_dump(mode="json"),
            },
        )
        JobRepository(session).mark_running(
            job.id, runner_key=f"{socket.gethostname()}:{os.getpid()}"
        )
        job_id = job.id
    log = JobLog(
        ctx.subdir("logs") / f"job-{job_id}.jsonl", tile=group.group_id, job_id=job_id
    )
    final_dir = ctx.subdir("products") / group.group_id
    tmp_dir = final_dir.with_name(f".{final_dir.name}.tmp-{os.getpid()}")
    # Holding the lock, any other temporary product of this tile is a dead run's.
    for leftover in final_dir.parent.glob(f".{final_dir.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        with log.stage("open", result.timings):
            ds = open_tile(group, cfg)
            obs_id, _ = _register_observation(ctx, group, ds)
            _set_status(ctx, obs_id, "processing")
        with log.stage("flag", result.timings):
            ds = flag_tile(ds, cfg)
        if cfg.calibration.enabled:
            with log.stage("calibrate", result.timings):
                from dsa110.calibration import apply_calibration

                choice = choose_calibration(
                    ds,
                    ctx,
                    group_id=group.group_id,
                    observation_id=obs_id,
                    job_id=job_id,
                )
                ds = apply_calibration(ds, choice.solutions)
                result.calibrator, result.solved_here = (
                    choice.calibrator,
                    choice.solved_here,
                )
                calibrator_here = (
                    (choice.source or True) if choice.solved_here else False
                )
                calset_id = choice.calibration_set_id
        else:
            calset_id = None
            calibrator_here = False
        with log.stage("image", result.timings):
            shutil.rmtree(tmp_dir, ignore_errors=True)
            tmp_dir.mkdir(parents=True)
            from dsa110.phasing import resolve_center

            # the image's centre (ICRS), which both the mask and the outliers
            # are chosen around; the pointing declination of date lies ~8'
            # away by precession
            centre = resolve_center(ds, "median_meridian")
            half_width = cfg.imaging.npix * cfg.imaging.cell_arcsec / 3600 / 2
            mask = clean_mask_centres(
                ctx, *np.degrees(centre).tolist(), half_width * 1.4
            )
            outliers = outlier_sources(ctx, centre, ds["frequency"].values)
            # a tile calibrated on its own transit holds the bright calibrator
            # at its centre: subtracted and restored (imaging.subtract_calibrator),
            # or CLEAN models its spectrum and goes one cycle deeper
            products, files = image_tile_products(
                ds,
                cfg,
                tmp_dir / group.group_id,
                catalog_positions=mask,
                calibrator=calibrator_here,
                outliers=outliers,
            )
            result.rms = float(products.sigma)
        with log.stage("photometry", result.timings):
            time_mjd = products.mid_time / 86400.0 + 40587.0
            measurements, sources, qa = measure_image(
                files["image-pb"],
                ctx,
                image_id=group.group_id,
                time_mjd=time_mjd,
                apparent_path=files["image"],
                pb_path=files["pb"],
            )
            if not sources.empty:
                from dsa110.photometry import write_table

                write_table(sources, tmp_dir / f"{group.group_id}-sources.csv")
        with log.stage("record", result.timings):
            _publish(tmp_dir, final_dir)
            files = {k: final_dir / Path(v).name for k, v in files.items()}
            image_db_id = _record_products(
                ctx,
                obs_id=obs_id,
                job_id=job_id,
                calset_id=calset_id,
                group=group,
                products=products,
                files=files,
                final_dir=final_dir,
                rms=result.rms,
            )
            source_ids = _record_measurements(ctx, measurements, image_db_id)
        with log.stage("variability", result.timings):
            # like a forced rerun's: the store keeps the epoch it already has
            if not measurements.empty and not _folded_in(ctx, superseded):
                _update_variability(ctx, measurements, source_ids)
        qa_dict = (
            None
            if qa is None
            else {
                "flux_ratio": _finite(qa.flux_ratio),
                "completeness": _finite(qa.completeness),
                "rms": _finite(qa.rms),
                "checks": {
                    k: None if v is None else bool(v) for k, v in qa.checks.items()
                },
            }
        )
        _set_status(ctx, obs_id, "processed", qa=qa_dict)
        result.status = "processed"
        result.image = str(files["image-pb"])
        result.n_measurements = int(len(measurements))
        error = None
    except Exception as exc:  # noqa: BLE001 - a failed tile is recorded, the batch goes on
        error = f"{type(exc).__name__}: {exc}"
        log.event("error", error=error, traceback=traceback.format_exc())
        result.error = error
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if obs_id is not None:
            _set_status(ctx, obs_id, "failed", qa={"error": error})
    finally:
        result.seconds = time.perf_counter() - start
        log.event("finished", status=result.status, seconds=result.seconds)
        with session_scope(ctx.session_factory) as session:
            repo = JobRepository(session)
            repo.append_log(job_id, log.text())
            repo.mark_finished(job_id, error=result.error)
    return result


def _finite(x, default=None):
    """``float(x)``, or ``default`` when it is NaN or infinite."""
    x = float(x)
    return x if np.isfinite(x) else default
