"""A real uvicorn server on a free local port, every route exercised with httpx.

The database is filled through the repositories (``conftest.populate``); once the
pipeline exists it should be filled by running the pipeline on simulated data.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

V1 = "/api/v1"


def _free_port():
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory, build_app):
    import uvicorn

    app, filled, runner, engine = build_app(tmp_path_factory.mktemp("live"))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped during start-up"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app, filled, runner
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _path_values(filled, path):
    values = {
        "observation_id": filled.observations[0],
        "product_id": filled.caltable,
        "source_id": filled.sources[0],
        "candidate_id": filled.candidates[0],
        "calibration_set_id": filled.calibration_set,
        "plot_id": filled.plot,
        "job_id": filled.jobs[2],
        "image_id": filled.mosaic
        if path.startswith(f"{V1}/mosaics")
        else filled.images[1],
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def _query(filled, path):
    ra, dec = filled.source_position
    if path.endswith("/cone"):
        return {"ra": ra, "dec": dec, "radius": 1.0}
    if path.endswith("/coverage") or path.endswith("/cutout"):
        return {"ra": ra, "dec": dec}
    if path.endswith("/validity"):
        return {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    return {}


BODIES = {
    f"{V1}/candidates/{{candidate_id}}/status": {
        "status": "confirmed",
        "note": "integration",
    },
    f"{V1}/jobs/reprocess": {
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-03-01T06:00:00Z",
    },
}


def test_every_route_over_http(live, api_key):
    base, app, filled, runner = live
    doc = httpx.get(f"{base}{V1}/openapi.json").json()
    done = set()
    with httpx.Client(
        base_url=base, headers={"X-API-Key": api_key}, timeout=30
    ) as client:
        # reads first, then the mutations (cancel needs the job left queued)
        ops = sorted(
            ((m.upper(), p) for p, item in doc["paths"].items() for m in item),
            key=lambda op: (op[0] != "GET", op[1]),
        )
        for method, path in ops:
            url = _path_values(filled, path)
            resp = client.request(
                method, url, params=_query(filled, path), json=BODIES.get(path)
            )
            assert resp.status_code in (200, 202), (method, url, resp.text[:300])
            done.add((method, path))
            if resp.headers["content-type"].startswith("application/json"):
                body = resp.json()
                assert not (isinstance(body, dict) and set(body) == {"error"})
    assert done == {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert len(runner.submitted) == 1 and runner.cancelled[0][0] == filled.jobs[2]


def test_file_download_over_http_matches_disk(live):
    base, _, filled, _ = live
    resp = httpx.get(f"{base}{V1}/mosaics/{filled.mosaic}/fits")
    disk = (filled.data_dir / "mosaics" / "mosaic_2026-03-01.fits").read_bytes()
    assert resp.content == disk
    etag = resp.headers["etag"]
    assert (
        httpx.get(
            f"{base}{V1}/mosaics/{filled.mosaic}/fits", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )


def test_raw_traversal_over_http(live):
    """Raw (un-normalised) request targets reach the server as sent."""
    base, _, filled, _ = live
    host, port = base.removeprefix("http://").split(":")
    for target in (
        f"{V1}/images/../../../../etc/passwd",
        f"{V1}/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/fits",
        f"{V1}/images/{filled.outside_image}/fits",
    ):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = data.split(b"\r\n", 1)[0]
        assert b" 404 " in status, (target, status)
        assert b"root:" not in data and b"SIMPLE" not in data


def test_serve_refuses_a_taken_port_in_process(capsys):
    from dsa110.cli import main

    with contextlib.closing(socket.socket()) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--db", "sqlite:///:memory:"]) == 1
    err = capsys.readouterr().err
    assert f"dsa110: error: cannot listen on 127.0.0.1:{port}" in err
    assert "choose another with --port" in err


@pytest.mark.slow
def test_serve_command_starts_and_refuses_a_taken_port(tmp_path, build_app, api_key):
    """``dsa110 serve`` in a subprocess against the filled SQLite database."""
    from dsa110.api import hash_api_key

    _, _, _, engine = build_app(tmp_path)
    url = str(engine.url)
    engine.dispose()
    port = _free_port()
    env = dict(os.environ, DSA110_API_KEY_HASHES=hash_api_key(api_key))
    cmd = [
        sys.executable,
        "-m",
        "dsa110",
        "serve",
        "--db",
        url,
        "--data-dir",
        str(tmp_path / "data"),
    ]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}{V1}/observations", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "dsa110 serve did not start"
                time.sleep(0.2)
        assert resp.status_code == 200 and resp.json()["total"] == 4
        unauth = httpx.post(f"http://127.0.0.1:{port}{V1}/jobs/1/cancel")
        assert unauth.status_code == 401
        second = subprocess.run(
            [*cmd, "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "port is probably taken" in second.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)
