"""Security: keys on mutating routes, no path can be named, parameters are validated."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

V1 = "/api/v1"


def _mutating_routes(client):
    doc = client.get(f"{V1}/openapi.json").json()
    routes = []
    for path, ops in doc["paths"].items():
        for method in ops:
            if method.upper() not in ("GET", "HEAD", "OPTIONS"):
                routes.append((method.upper(), path))
    return routes


def _fill(path: str) -> str:
    return path.replace("{candidate_id}", "1").replace("{job_id}", "3")


BODIES = {
    "/status": {"status": "dismissed"},
    "/reprocess": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T01:00:00Z"},
}


def _body(path):
    return next((b for k, b in BODIES.items() if path.endswith(k)), None)


def test_mutating_routes_need_a_valid_key(shared_service, api_key):
    client, _, runner = shared_service
    before, cancelled = list(runner.submitted), list(runner.cancelled)
    routes = _mutating_routes(client)
    assert {p for _, p in routes} == {
        f"{V1}/candidates/{{candidate_id}}/status",
        f"{V1}/jobs/reprocess",
        f"{V1}/jobs/{{job_id}}/cancel",
    }
    for method, path in routes:
        url = _fill(path)
        missing = client.request(method, url, json=_body(path))
        assert missing.status_code == 401, url
        assert missing.json()["error"]["code"] == "unauthorized"
        wrong = client.request(
            method, url, json=_body(path), headers={"X-API-Key": api_key + "x"}
        )
        assert wrong.status_code == 403, url
        assert wrong.json()["error"]["code"] == "forbidden"
    assert runner.submitted == before and runner.cancelled == cancelled
    cand = client.get(f"{V1}/candidates/1").json()
    assert cand["status"] == "active"


def test_no_configured_key_disables_mutations(shared_service, api_key, monkeypatch):
    client, _, runner = shared_service
    before = list(runner.submitted)
    settings = client.app.state.settings.model_copy(update={"api_key_hashes": []})
    monkeypatch.setattr(client.app.state, "settings", settings)
    resp = client.post(
        f"{V1}/jobs/reprocess",
        json=BODIES["/reprocess"],
        headers={"X-API-Key": api_key},
    )
    assert resp.status_code == 403
    assert "no API key is configured" in resp.json()["error"]["message"]
    assert runner.submitted == before


def test_protected_reads(shared_service, api_key, monkeypatch):
    client, filled, _ = shared_service
    settings = client.app.state.settings.model_copy(update={"protect_reads": True})
    monkeypatch.setattr(client.app.state, "settings", settings)
    for url in (
        f"{V1}/observations",
        f"{V1}/images/{filled.images[0]}/fits",
        f"{V1}/health",
    ):
        assert client.get(url).status_code == 401, url
        assert client.get(url, headers={"X-API-Key": api_key}).status_code == 200, url


def test_cors_is_configurable(tmp_path, build_app):
    app, _, _, engine = build_app(tmp_path, cors_origins=["https://dsa110.example.org"])
    with TestClient(app) as client:
        ok = client.get(
            f"{V1}/observations", headers={"Origin": "https://dsa110.example.org"}
        )
        assert ok.headers["access-control-allow-origin"] == "https://dsa110.example.org"
        other = client.get(
            f"{V1}/observations", headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    engine.dispose()


TRAVERSALS = [
    "/images/..%2F..%2F..%2Fetc%2Fpasswd/fits",
    "/images/%2e%2e%2f%2e%2e%2fsecret.fits/fits",
    "/images/../../../../etc/passwd",
    "/images/1%2F..%2F..%2Foutside%2Fsecret.fits/fits",
    "/images/..%5C..%5Cwindows%5Cwin.ini/fits",
    "/images/%00/fits",
    "/images/-1/fits",
    "/images/0/fits",
    "/images/1e3/fits",
    "/images/99999999999999999999/fits",
    "/mosaics/..%2Fimages%2F1/fits",
    "/calibration-sets/1/plots/..%2F..%2Fcal%2Fgains.png",
    "/calibration-sets/1/plots/gains.png",
    "/images/file:%2F%2F%2Fetc%2Fpasswd/fits",
    "/static/../../etc/passwd",
]


@pytest.fixture
def no_reads(monkeypatch):
    """Fail the test if any file would be served or read."""
    import dsa110.api.files as files

    calls = []

    def forbid(name):
        def _f(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")

        return _f

    monkeypatch.setattr(files, "FileResponse", forbid("FileResponse"))
    monkeypatch.setattr(files, "_read_fits_image", forbid("_read_fits_image"))
    return calls


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_404_and_reads_nothing(shared_service, no_reads, path):
    client = shared_service[0]
    resp = client.get(V1 + path)
    assert resp.status_code == 404, path
    assert resp.json()["error"]["code"] == "not_found"
    assert no_reads == []


@pytest.mark.parametrize("suffix", ["fits", "preview.png", "cutout?ra=0&dec=0"])
def test_registered_files_outside_the_data_dir_are_not_served(
    shared_service, no_reads, suffix
):
    client, filled, _ = shared_service
    for image in (filled.outside_image, filled.symlink_image):
        resp = client.get(f"{V1}/images/{image}/{suffix}")
        assert resp.status_code == 404
        assert str(filled.outside_file) not in resp.text
    assert no_reads == []


BAD_PARAMS = [
    ("/observations", {"limit": 10**9}),
    ("/observations", {"limit": 0}),
    ("/observations", {"limit": "ten"}),
    ("/observations", {"offset": -1}),
    ("/observations", {"status": "bogus"}),
    ("/observations", {"start": "not-a-date"}),
    ("/observations", {"dec_min": "nan"}),
    ("/observations", {"start": "9999-12-31T23:59:59-23:00"}),
    ("/sources/cone", {"ra": 400, "dec": 0, "radius": 1}),
    ("/sources/cone", {"ra": 1, "dec": 91, "radius": 1}),
    ("/sources/cone", {"ra": 1, "dec": 0, "radius": 90}),
    ("/sources/cone", {"ra": "inf", "dec": 0, "radius": 1}),
    ("/sources/cone", {"dec": 0, "radius": 1}),
    ("/sources", {"name": "x" * 10_000}),
    ("/images/1/preview.png", {"size": 100_000}),
    ("/images/1/cutout", {"ra": 150, "dec": 33, "size_arcmin": 1e9}),
    ("/images/1/cutout", {"ra": 150, "dec": 33, "format": "tiff"}),
    ("/candidates", {"preset": "everything"}),
    ("/candidates", {"min_score": "1e400"}),
    ("/coverage", {"ra": 10, "dec": 10, "limit": 100_000}),
    ("/sources/1/lightcurve", {"format": "xml"}),
    ("/jobs", {"state": "exploded"}),
    ("/calibration-sets/validity", {"start": "2026-01-01"}),
]


@pytest.mark.parametrize(("path", "params"), BAD_PARAMS)
def test_bad_parameters_are_422_in_the_envelope(shared_service, path, params):
    client = shared_service[0]
    resp = client.get(V1 + path, params=params)
    assert resp.status_code == 422, (path, params, resp.text[:200])
    error = resp.json()["error"]
    assert error["code"] == "validation_error"
    assert isinstance(error["message"], str)


def test_malformed_and_oversized_bodies(shared_service, api_key):
    client = shared_service[0]
    key = {"X-API-Key": api_key, "Content-Type": "application/json"}
    bad_json = client.post(
        f"{V1}/candidates/1/status", content=b"{not json", headers=key
    )
    assert (
        bad_json.status_code == 422
        and bad_json.json()["error"]["code"] == "validation_error"
    )
    bad_status = client.post(
        f"{V1}/candidates/1/status", json={"status": "deleted"}, headers=key
    )
    assert bad_status.status_code == 422
    huge = client.post(
        f"{V1}/candidates/1/status",
        content=b'{"status": "dismissed", "note": "' + b"x" * 100_000 + b'"}',
        headers=key,
    )
    assert (
        huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"
    )
    long_note = client.post(
        f"{V1}/candidates/1/status",
        json={"status": "dismissed", "note": "x" * 5000},
        headers=key,
    )
    assert long_note.status_code == 422
    assert client.get(f"{V1}/candidates/1").json()["status"] == "active"


def test_unknown_routes_and_methods_use_the_envelope(shared_service):
    client = shared_service[0]
    missing = client.get(f"{V1}/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    method = client.delete(f"{V1}/observations")
    assert method.status_code == 405
    assert method.json()["error"]["code"] == "method_not_allowed"
