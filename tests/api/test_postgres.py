"""The service on PostgreSQL: the main read and write routes on a filled database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dsa110.db.testing import (
    PostgresUnavailable,
    create_database,
    shared_postgres,
    skip_or_fail,
)

V1 = "/api/v1"


@pytest.fixture(scope="module")
def pg_service(tmp_path_factory, build_app):
    try:
        base = shared_postgres()
    except PostgresUnavailable as exc:
        skip_or_fail(exc)
    app, filled, runner, engine = build_app(
        tmp_path_factory.mktemp("pg"), db_url=create_database(base)
    )
    with TestClient(app) as client:
        yield client, filled, runner
    engine.dispose()


@pytest.mark.postgres
def test_routes_on_postgres(pg_service, api_key):
    client, filled, runner = pg_service
    assert (
        client.get(f"{V1}/health").json()["checks"]["database"]["detail"]
        == "postgresql"
    )
    assert (
        client.get(f"{V1}/observations", params={"status": "processed"}).json()["total"]
        == 2
    )
    detail = client.get(f"{V1}/observations/{filled.observations[0]}").json()
    assert len(detail["files"]) == 16 and detail["qa"]["flagged_fraction"] > 0
    ra, dec = filled.source_position
    hits = client.get(
        f"{V1}/sources/cone", params={"ra": ra, "dec": dec, "radius": 0.5}
    ).json()
    assert hits[0]["source"]["id"] == filled.sources[0]
    assert len(client.get(f"{V1}/coverage", params={"ra": ra, "dec": dec}).json()) >= 2
    assert client.get(f"{V1}/sources", params={"min_eta": 20}).json()["total"] >= 1
    assert (
        client.get(f"{V1}/candidates", params={"preset": "strong"}).json()["total"] == 1
    )
    assert (
        client.get(f"{V1}/calibration-sets", params={"qa_passed": True}).json()["total"]
        == 1
    )
    assert client.get(f"{V1}/images/{filled.images[0]}/fits").status_code == 200
    assert client.get(f"{V1}/metrics").status_code == 200
    key = {"X-API-Key": api_key}
    cid = filled.candidates[1]
    resp = client.post(
        f"{V1}/candidates/{cid}/status", json={"status": "dismissed"}, headers=key
    )
    assert resp.json()["status"] == "dismissed"
    body = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T01:00:00Z"}
    job = client.post(f"{V1}/jobs/reprocess", json=body, headers=key).json()
    assert (
        client.post(f"{V1}/jobs/{job['id']}/cancel", headers=key).json()["state"]
        == "cancelled"
    )
