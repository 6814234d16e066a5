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
    from dsa110.db.models import Image, Job, Observation

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
        # Every job finished; the killed one is closed as abandoned, not left running.
        assert not session.scalars(
            select(Job).where(Job.state.in_(("running", "queued")))
        ).all()
    products = tmp_path / "data" / "products"
    assert sorted(
        p.name for p in products.iterdir() if not p.name.startswith(".")
    ) == sorted(r.group_id for r in results)
    assert not [
        p for p in products.iterdir() if p.name.startswith(".")
    ]  # no partial products
