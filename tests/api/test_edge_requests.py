"""Requests at the edges an audit found 500s at: each gets its 4xx or envelope."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi.testclient import TestClient

V1 = "/api/v1"


def test_job_dates_out_of_range_in_utc(shared_service, api_key):
    client, _, _ = shared_service
    body = {"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-02T00:00:00+01:00"}
    resp = client.post(
        f"{V1}/jobs/reprocess", json=body, headers={"X-API-Key": api_key}
    )
    assert resp.status_code == 422, resp.text
    assert "out of range" in resp.text


def test_cutout_smaller_than_a_pixel(shared_service):
    client, filled, _ = shared_service
    ra, dec = filled.source_position
    for fmt in ("png", "fits"):
        resp = client.get(
            f"{V1}/images/{filled.images[1]}/cutout",
            params={"ra": ra, "dec": dec, "size_arcmin": 0.5, "format": fmt},
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["details"][0]["loc"] == ["query", "size_arcmin"]


def test_chunked_bodies_are_limited_too(shared_service, api_key):
    client, _, _ = shared_service
    big = b'{"start": "2026-11-24T00:00:00", "end": "2026-11-25T00:00:00", "x": "'
    big += b"a" * 100_000 + b'"}'

    def chunks():  # no Content-Length: sent with Transfer-Encoding: chunked
        for k in range(0, len(big), 4096):
            yield big[k : k + 4096]

    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    resp = client.post(f"{V1}/jobs/reprocess", content=chunks(), headers=headers)
    assert resp.status_code == 413
    # a small chunked body still reaches the route
    small = b'{"start": "2026-11-24T00:00:00", "end": "2026-11-25T00:00:00"}'
    resp = client.post(f"{V1}/jobs/reprocess", content=iter([small]), headers=headers)
    assert resp.status_code != 413 and resp.status_code < 500, resp.text


def test_csv_file_names_of_any_source_name(tmp_path, build_app):
    from dsa110.db import models, session_scope

    app, filled, _, engine = build_app(tmp_path)
    with session_scope(app.state.sessionmaker) as session:
        for sid, name in zip(filled.sources[:2], ("AUDIT ☃ snowman", 'AUDIT "q"')):
            session.get(models.Source, sid).name = name
    with TestClient(app) as client:
        for sid, name in zip(filled.sources[:2], ("AUDIT ☃ snowman", 'AUDIT "q"')):
            resp = client.get(
                f"{V1}/sources/{sid}/lightcurve", params={"format": "csv"}
            )
            assert resp.status_code == 200, resp.text
            value = resp.headers["content-disposition"]
            assert value.count('"') == 2  # the fallback name, quoted once
            assert unquote(value.split("filename*=UTF-8''")[1]) == f"{name}.csv"
    engine.dispose()


def test_unexpected_errors_are_counted_and_get_cors(tmp_path, build_app, monkeypatch):
    """A route's unexpected exception is a 500 envelope that passes the request
    metrics and the CORS headers (both were skipped)."""
    from dsa110.db import ObservationRepository

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ObservationRepository, "list", broken)
    origin = "https://dsa110.example.org"
    app, _, _, engine = build_app(tmp_path, cors_origins=[origin])
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get(f"{V1}/observations", headers={"Origin": origin})
        assert resp.status_code == 500
        assert resp.json()["error"]["code"] == "internal_error"
        assert resp.headers["access-control-allow-origin"] == origin
        metrics = client.get(f"{V1}/metrics").text
    line = 'dsa110_http_requests_total{method="GET",route="/api/v1/observations",status="500"}'
    assert f"{line} 1.0" in metrics
    engine.dispose()
