"""Fault tolerance: a worker killed in the middle of `reprocess` on a LocalCluster."""

import os
import signal
import threading
import time

import pytest
from sqlalchemy import select

from dsa110.pipeline.batch import run_batch
from dsa110.pipeline.context import PipelineContext


def test_killed_worker_batch_completes_consistently(night_copy, tmp_path, make_config):
    distributed = pytest.importorskip("distributed")
    from dsa110.db import session_scope
    from dsa110.db.models import Image, Job, Measurement, Observation, Source

    raw, sky = night_copy
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        cfg = make_config(
            tmp_path / "data",
            f"runtime.scheduler={cluster.scheduler_address}",
            "runtime.retries=2",
        )
        ctx = PipelineContext(cfg)
        ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
        outcome = {}
        runner = threading.Thread(
            target=lambda: outcome.setdefault(
                "results", run_batch(raw, cfg, progress=False, out=lambda *a: None)
            )
        )
        runner.start()
        # Kill a worker as soon as a tile is running on the cluster.
        deadline = time.monotonic() + 120
        killed = None
        while killed is None and time.monotonic() < deadline:
            with session_scope(ctx.session_factory) as session:
                running = session.scalars(
                    select(Job).where(Job.state == "running")
                ).first()
            if running is not None:
                pids = client.run(os.getpid)
                killed = next(iter(pids.values()))
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.2)
        runner.join(timeout=600)
        # the tiles' own graphs ran inside their tasks, on the workers' threads:
        # the scheduler saw nothing but the tile and mosaic tasks
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
        )
    assert set(prefixes) <= {"tile", "mosaic"}, prefixes
    assert killed is not None, "no tile started within 2 minutes"
    results = outcome["results"]
    assert sorted(r.status for r in results) == ["processed"] * 4, [
        r.error for r in results
    ]
    with session_scope(ctx.session_factory) as session:
        assert all(
            o.status == "processed" for o in session.scalars(select(Observation))
        )
        assert len(session.scalars(select(Image)).all()) == 4
        # Tiles measured at once share catalogue sources: one row per name, and
        # every measurement kept once.
        names = session.scalars(select(Source.name)).all()
        assert len(names) == len(set(names)) > 0
        assert len(session.scalars(select(Measurement.id)).all()) == sum(
            r.n_measurements for r in results
        )
        # Every job finished; the killed one is closed as abandoned, not left running.
        assert not session.scalars(
            select(Job).where(Job.state.in_(("running", "queued")))
        ).all()
    # The variability store took the tiles in turn: each measured image folded
    # in once (a lost update would drop one).
    folded = ctx.variability_store.corrections()["image_id"].tolist()
    measured = [r.group_id for r in results if r.n_measurements]
    assert len(measured) >= 2
    assert sorted(folded) == sorted(measured)
    products = tmp_path / "data" / "products"
    assert sorted(
        p.name for p in products.iterdir() if not p.name.startswith(".")
    ) == sorted(r.group_id for r in results)
    assert not [
        p for p in products.iterdir() if p.name.startswith(".")
    ]  # no partial products


def test_crash_mid_tile_then_rerun_is_idempotent(night_copy, tmp_path, make_config):
    """A `dsa110 run` killed (SIGKILL) while imaging, then run again."""
    import json
    import subprocess
    import sys

    from dsa110.db import session_scope
    from dsa110.db.models import CalibrationSet, Image, Job, Lock, Observation
    from dsa110.io import find_groups
    from dsa110.pipeline.tile import process_tile

    raw, sky = night_copy
    data = tmp_path / "data"
    cfg = make_config(data)
    ctx = PipelineContext(cfg)
    ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
    ctx.session_factory  # noqa: B018 - create the database before the child uses it
    group = find_groups(raw)[0]  # day 1's calibrator tile
    code = "import sys; from dsa110.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [
        "run",
        *map(str, group.paths),
        "--data-dir",
        str(data),
        "--set",
        "imaging.npix=512",
        "--set",
        "imaging.cell_arcsec=8.0",
        "--set",
        "imaging.niter=100",
        "--set",
        "imaging.major_cycles=1",
    ]
    child = subprocess.Popen([sys.executable, "-c", code, *args])
    logs = data / "logs"
    deadline = time.monotonic() + 180
    started = False
    while not started and time.monotonic() < deadline and child.poll() is None:
        for path in logs.glob("job-*.jsonl") if logs.exists() else ():
            for line in path.read_text().splitlines():
                event = json.loads(line)
                if event["event"] == "stage_start" and event["stage"] == "image":
                    started = True
        time.sleep(0.05)
    assert started, "the child never reached the image stage"
    child.send_signal(signal.SIGKILL)
    child.wait()
    with session_scope(ctx.session_factory) as session:
        # The crash left a running job, a held lock, a tile "processing", no image.
        assert session.scalars(select(Job).where(Job.state == "running")).all()
        assert session.scalars(select(Lock)).all()
        assert session.scalars(select(Observation)).one().status == "processing"
        assert not session.scalars(select(Image)).all()
    # Rerun here: the dead process's lock is taken over at once (same host), its
    # job closed as abandoned, its temporary products removed; one set of records.
    result = process_tile(group, cfg)
    assert result.status == "processed", result.error
    assert process_tile(group, cfg).status == "skipped"
    with session_scope(ctx.session_factory) as session:
        jobs = session.scalars(select(Job).order_by(Job.id)).all()
        assert [j.state for j in jobs] == ["failed", "succeeded"]
        assert "abandoned" in jobs[0].error
        assert len(session.scalars(select(Image)).all()) == 1
        assert len(session.scalars(select(CalibrationSet)).all()) == 1
        assert not session.scalars(select(Lock)).all()
    products = data / "products"
    assert [p.name for p in products.iterdir()] == [group.group_id]
