"""The Dask job runner: work runs on the cluster, outcomes land in the jobs table."""

from __future__ import annotations

import time

import pytest

from dsa110.api import DaskJobRunner
from dsa110.api.runner import resolve_function
from dsa110.db import JobRepository, init_db, make_sessionmaker, session_scope


def fake_reprocess(start, end, **options):
    if options.get("fail"):
        raise RuntimeError(f"no groups between {start} and {end}")
    return {"start": start, "end": end, **options}


def _wait_final(factory, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(factory) as session:
            job = JobRepository(session).get(job_id)
            if job.state in ("succeeded", "failed", "cancelled"):
                return job
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_dask_runner_records_success_and_failure(tmp_path, client):
    factory = make_sessionmaker(init_db(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    runner = DaskJobRunner(client, fake_reprocess, factory)
    ids = []
    for options in ({"niter": 10}, {"fail": True}):
        with session_scope(factory) as session:
            params = {
                "start": "2026-03-01T00:00:00",
                "end": "2026-03-01T01:00:00",
                "options": options,
            }
            job = JobRepository(session).create("reprocess", parameters=params)
        key = runner.submit(job.id, "reprocess", params)
        assert key == f"dsa110-reprocess-{job.id}"
        ids.append(job.id)
    ok, bad = (_wait_final(factory, i) for i in ids)
    assert ok.state == "succeeded" and ok.error is None
    assert bad.state == "failed"
    assert (
        "RuntimeError: no groups between 2026-03-01T00:00:00 and 2026-03-01T01:00:00"
        in bad.error
    )


def test_resolve_function():
    assert resolve_function("os.path:join") is __import__("os").path.join
    with pytest.raises(ValueError, match="module:function"):
        resolve_function("os.path.join")
