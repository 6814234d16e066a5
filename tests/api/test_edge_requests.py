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


def test_a_refused_job_is_not_recorded(tmp_path, api_key):
    """Without a job runner, submissions are refused (503) and no 'failed'
    job is left for each (377 rows after 367 refusals)."""
    from dsa110.api import Settings, create_app, hash_api_key
    from dsa110.db import init_db

    engine = init_db(f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings(data_dir=tmp_path, api_key_hashes=[hash_api_key(api_key)])
    body = {"start": "2026-11-24T00:00:00", "end": "2026-11-25T00:00:00"}
    with TestClient(create_app(settings, engine=engine)) as client:
        for _ in range(3):
            resp = client.post(
                f"{V1}/jobs/reprocess", json=body, headers={"X-API-Key": api_key}
            )
            assert resp.status_code == 503
            assert resp.json()["error"]["code"] == "no_job_runner"
        assert client.get(f"{V1}/jobs").json()["total"] == 0
    engine.dispose()


def test_a_truncated_product_is_not_served_as_whole(tmp_path, build_app):
    """A file whose size differs from the recorded one is a corrupt product
    (it was served with the recorded checksum as ETag and an immutable cache)."""
    from dsa110.db import models, session_scope

    app, filled, _, engine = build_app(tmp_path)
    with session_scope(app.state.sessionmaker) as session:
        image = session.get(models.Image, filled.images[0])
        path = session.get(models.Product, image.product_id).path
    with open(path, "r+b") as fh:
        fh.truncate(5000)
    with TestClient(app) as client:
        resp = client.get(f"{V1}/images/{filled.images[0]}/fits")
        assert resp.status_code == 500
        assert resp.json()["error"]["code"] == "corrupt_product"
        assert "recorded" in resp.json()["error"]["message"]
    engine.dispose()


def test_a_light_curve_cut_at_the_cap_says_so(shared_service, monkeypatch):
    from dsa110.api.routers import sources

    client, filled, _ = shared_service
    sid = filled.sources[0]
    full = client.get(f"{V1}/sources/{sid}/lightcurve").json()
    assert not full["truncated"] and len(full["points"]) > 2
    monkeypatch.setattr(sources, "MAX_LIGHT_CURVE_POINTS", 2)
    cut = client.get(f"{V1}/sources/{sid}/lightcurve").json()
    assert cut["truncated"] and cut["points"] == full["points"][:2]
    csv = client.get(f"{V1}/sources/{sid}/lightcurve", params={"format": "csv"})
    assert csv.headers["x-truncated"] == "true"


def test_unknown_query_parameters_are_refused(shared_service):
    client, filled, _ = shared_service
    # a misspelt filter was ignored: the unfiltered page came back as if filtered
    resp = client.get(f"{V1}/sources", params={"limt": 1, "dec_mn": 30})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert [d["loc"] for d in error["details"]] == [
        ["query", "dec_mn"],
        ["query", "limt"],
    ]
    assert "limit" in error["message"] and "dec_min" in error["message"]
    # parameters of the route's dependencies (pagination) and its own are known
    resp = client.get(f"{V1}/sources", params={"limit": 1, "dec_min": -90})
    assert resp.status_code == 200, resp.text
    ra, dec = filled.source_position
    resp = client.get(
        f"{V1}/sources/cone", params={"ra": ra, "dec": dec, "radius": 1, "x": 1}
    )
    assert resp.status_code == 422 and "x" in resp.json()["error"]["message"]


def test_head_is_answered_as_get_without_a_body(shared_service):
    client, filled, _ = shared_service
    # was a 405: every route is declared for GET
    get = client.get(f"{V1}/images/{filled.images[0]}/fits")
    head = client.head(f"{V1}/images/{filled.images[0]}/fits")
    assert get.status_code == head.status_code == 200, head.text
    assert head.content == b""
    for name in ("content-length", "etag", "content-type", "content-disposition"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert int(head.headers["content-length"]) == len(get.content) > 0
    missing = client.head(f"{V1}/images/999999/fits")
    assert missing.status_code == 404 and missing.content == b""
    assert client.head(f"{V1}/sources").status_code == 200
