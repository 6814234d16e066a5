"""Mutating routes: candidate review and job submission/cancellation, with a key."""

from __future__ import annotations

import pytest

V1 = "/api/v1"


@pytest.fixture
def KEY(api_key):
    return {"X-API-Key": api_key}


def test_dismiss_and_confirm_candidates(shared_service, KEY):
    client, filled, _ = shared_service
    cid = filled.candidates[0]
    resp = client.post(
        f"{V1}/candidates/{cid}/status",
        json={"status": "dismissed", "note": "RFI"},
        headers=KEY,
    )
    assert resp.status_code == 200
    assert resp.json()["status"] == "dismissed" and resp.json()["note"] == "RFI"
    conflict = client.post(
        f"{V1}/candidates/{cid}/status", json={"status": "confirmed"}, headers=KEY
    )
    assert (
        conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    )
    client.post(f"{V1}/candidates/{cid}/status", json={"status": "active"}, headers=KEY)
    ok = client.post(
        f"{V1}/candidates/{cid}/status",
        json={"status": "confirmed", "note": "ESE"},
        headers=KEY,
    )
    assert ok.json()["status"] == "confirmed"
    assert (
        client.get(f"{V1}/candidates", params={"preset": "confirmed"}).json()["total"]
        == 1
    )


def test_submit_reprocess_calls_the_runner_and_returns_at_once(shared_service, KEY):
    client, _, runner = shared_service
    body = {
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-03-02T00:00:00Z",
        "options": {"niter": 100},
    }
    resp = client.post(f"{V1}/jobs/reprocess", json=body, headers=KEY)
    assert resp.status_code == 202
    job = resp.json()
    assert job["state"] == "running" and job["kind"] == "reprocess"
    assert runner.submitted[-1:] == [
        (
            job["id"],
            "reprocess",
            {
                "start": "2026-03-01T00:00:00+00:00",
                "end": "2026-03-02T00:00:00+00:00",
                "options": {"niter": 100},
            },
        )
    ]
    cancel = client.post(f"{V1}/jobs/{job['id']}/cancel", headers=KEY)
    assert cancel.json()["state"] == "cancelled"
    assert runner.cancelled == [(job["id"], f"fake-{job['id']}")]
    again = client.post(f"{V1}/jobs/{job['id']}/cancel", headers=KEY)
    assert again.status_code == 409


def test_reprocess_range_is_validated(shared_service, KEY):
    client, _, runner = shared_service
    before = list(runner.submitted)
    for body in (
        {"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "extra": 1},
        {"start": "yesterday", "end": "2026-01-02T00:00:00Z"},
    ):
        resp = client.post(f"{V1}/jobs/reprocess", json=body, headers=KEY)
        assert resp.status_code == 422, body
        assert resp.json()["error"]["code"] == "validation_error"
    assert runner.submitted == before


def test_failed_submission_marks_the_job_failed(shared_service, KEY, monkeypatch):
    client = shared_service[0]

    class Broken:
        def submit(self, job_id, kind, parameters):
            raise OSError("scheduler gone")

        def cancel(self, job_id, runner_key):
            return False

    monkeypatch.setattr(client.app.state, "job_runner", Broken())
    body = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T01:00:00Z"}
    resp = client.post(f"{V1}/jobs/reprocess", json=body, headers=KEY)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "submission_failed"
    failed = client.get(f"{V1}/jobs", params={"state": "failed"}).json()["items"]
    assert any("scheduler gone" in j["error"] for j in failed)


def test_unconfigured_runner_refuses(shared_service, KEY, monkeypatch):
    from dsa110.api import UnconfiguredJobRunner

    client = shared_service[0]
    monkeypatch.setattr(client.app.state, "job_runner", UnconfiguredJobRunner())
    body = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T01:00:00Z"}
    resp = client.post(f"{V1}/jobs/reprocess", json=body, headers=KEY)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "no_job_runner"
