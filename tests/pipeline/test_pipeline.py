"""End to end on a simulated two-day night: products, provenance, idempotence,
refusals, failures recorded while the batch goes on."""

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from dsa110.io import find_groups
from dsa110.pipeline.batch import run_batch
from dsa110.pipeline.context import PipelineContext
from dsa110.pipeline.tile import process_tile


def _count(ctx, model, *where):
    from dsa110.db import session_scope

    with session_scope(ctx.session_factory) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_night_end_to_end_and_idempotent(night_copy, tmp_path, make_config):
    from dsa110.db import ProductRepository, session_scope
    from dsa110.db.models import (
        CalibrationSet,
        Image,
        Measurement,
        Observation,
        Product,
    )

    raw, sky = night_copy
    cfg = make_config(tmp_path / "data")
    ctx = PipelineContext(cfg)
    ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
    results = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    assert [r.status for r in results] == ["processed"] * 4, [r.error for r in results]
    # A worker runs tile after tile: each lets go of its files when done.
    fds = Path("/proc/self/fd")
    if fds.is_dir():
        raw_files = {str(p.resolve()) for p in raw.glob("*.hdf5")}
        still_open = []
        for fd in fds.iterdir():
            try:
                still_open += [t for t in [str(fd.readlink())] if t in raw_files]
            except OSError:
                pass
        assert not still_open
    # Calibrator tiles first, solving; target tiles use their day's solutions.
    assert [r.solved_here for r in results] == [True, True, False, False]
    # ... and subtracting their calibrator before imaging (restored after); the
    # survey's bright sources beyond the image's edge are subtracted, not restored
    from astropy.io import fits

    histories = [
        "".join(str(c) for c in fits.getheader(r.image)["HISTORY"]) for r in results
    ]
    assert ["'restored': True" in h for h in histories] == [True, True, False, False]
    assert _count(ctx, CalibrationSet) == 2
    assert _count(ctx, Observation, Observation.status == "processed") == 4
    assert _count(ctx, Image) == 4
    assert _count(ctx, Measurement) > 0
    # Measurements of images that pass the epoch gates are not flagged.
    assert _count(ctx, Measurement, Measurement.flagged.is_(False)) > 0
    # Every product exists on disk with provenance (inputs, parameters, code version).
    with session_scope(ctx.session_factory) as session:
        products = session.scalars(select(Product)).all()
        assert {p.kind for p in products} >= {"image", "caltable", "plot"}
        for p in products:
            assert (tmp_path / "data").resolve() in Path(p.path).parents
            assert Path(p.path).exists()
            full = ProductRepository(session).get(p.id)
            assert (
                full.provenance.code_version and full.provenance.parameters is not None
            )
            if p.kind == "image":
                assert full.provenance.inputs  # raw files and the caltable
    # The target image measures the bright catalog sources near their flux.
    target = results[2]
    from dsa110.photometry import forced_photometry, read_image

    image = read_image(target.image)
    bright = sky.catalog[sky.catalog.flux_int > 0.3]
    forced = forced_photometry(image, bright.ra.to_numpy(), bright.dec.to_numpy())
    ok = forced["inside"].to_numpy()
    day0 = np.array([sky.fluxes[n][0] for n in bright.name])
    # 12-antenna snapshot: sidelobe confusion and CLEAN at 100 iterations; 25 %.
    np.testing.assert_allclose(forced["flux"].to_numpy()[ok], day0[ok], rtol=0.25)
    # A rerun does nothing; a forced rerun redoes the work.
    again = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    assert [r.status for r in again] == ["skipped"] * 4
    assert _count(ctx, Image) == 4
    redo = process_tile(find_groups(raw)[0], cfg, force=True)
    assert redo.status == "processed", redo.error
    # ... replacing, not duplicating, the tile's records (the calibration set
    # the day's target tile was calibrated with is kept, superseded).
    assert _count(ctx, Image) == 4
    superseded = CalibrationSet.name.like("superseded %")
    assert _count(ctx, CalibrationSet, ~superseded) == 2
    assert _count(ctx, CalibrationSet, superseded) == 1


def test_corrupt_tile_is_recorded_and_batch_continues(
    night_copy, tmp_path, make_config
):
    from dsa110.db import session_scope
    from dsa110.db.models import Job

    raw, sky = night_copy
    victim = sorted(raw.glob("*_sb05.hdf5"))[-1]  # a target tile's file
    with open(victim, "r+b") as fh:
        fh.truncate(victim.stat().st_size // 3)
    cfg = make_config(tmp_path / "data")
    ctx = PipelineContext(cfg)
    ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
    results = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    failed = [r for r in results if r.status == "failed"]
    assert len(failed) == 1 and victim.name in failed[0].error
    assert sum(r.status == "processed" for r in results) == 3
    with session_scope(ctx.session_factory) as session:
        job = session.scalars(select(Job).where(Job.state == "failed")).one()
        assert victim.name in job.error and "stage_failed" in job.log
    # No half-written product directory is left behind.
    assert not list((tmp_path / "data" / "products").glob(".*tmp*"))


def test_no_calibration_is_refused(night_copy, tmp_path, make_config):
    raw, sky = night_copy
    cfg = make_config(tmp_path / "data")
    groups = find_groups(raw)
    target = [g for g in groups if "T05:4" in g.group_id or "T05:5" in g.group_id][0]
    result = process_tile(target, cfg)
    assert result.status == "failed"
    assert (
        "CalibrationUnavailableError" in result.error
        and "no calibrator transit" in result.error
    )


def test_other_strip_solutions_are_not_used(night_copy, tmp_path, make_config):
    from dsa110.simulate import simulate_observation

    raw, sky = night_copy
    cfg = make_config(tmp_path / "data")
    run_batch(
        raw, cfg, progress=False, out=lambda *a: None
    )  # registers dec +33 solutions
    other = tmp_path / "dec50"
    (tile,) = simulate_observation(
        other,
        preset="small",
        seed=5,
        start="2026-11-24T05:40:00",
        dec_deg=50.0,
        population=False,
    )
    result = process_tile(tile.files, cfg)
    assert result.status == "failed" and "±5 deg" in result.error


@pytest.mark.postgres
def test_night_on_postgresql(night_copy, tmp_path, make_config):
    from dsa110.db.models import Image, Measurement, Observation
    from dsa110.db.testing import (
        PostgresUnavailable,
        create_database,
        shared_postgres,
        skip_or_fail,
    )

    try:
        base = shared_postgres()
    except PostgresUnavailable as exc:
        skip_or_fail(exc)
    raw, sky = night_copy
    cfg = make_config(
        tmp_path / "data", f"runtime.database_url={create_database(base)}"
    )
    ctx = PipelineContext(cfg)
    assert ctx.database_url.startswith("postgresql")
    ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
    results = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    assert [r.status for r in results] == ["processed"] * 4, [r.error for r in results]
    assert _count(ctx, Observation, Observation.status == "processed") == 4
    assert _count(ctx, Image) == 4 and _count(ctx, Measurement) > 0


def test_run_command_says_when_another_run_holds_the_tile(night_copy, tmp_path, capsys):
    """A tile locked by another run is not processed by this one: ``dsa110 run``
    says so with exit status 75 (EX_TEMPFAIL), not 0, so a wrapper can retry."""
    from dsa110.cli import main
    from dsa110.cli.pipeline import EXIT_LOCKED
    from dsa110.db import hold_lock
    from dsa110.pipeline.config import load_config

    raw, _ = night_copy
    group = find_groups(raw)[0]
    data_dir = tmp_path / "data"
    ctx = PipelineContext(load_config(overrides=[f"runtime.data_dir={data_dir}"]))
    with hold_lock(ctx.session_factory, f"tile:{group.group_id}", heartbeat=False):
        rc = main(["run", *map(str, group.paths), "--data-dir", str(data_dir)])
    assert rc == EXIT_LOCKED == 75
    assert "locked" in capsys.readouterr().out
