"""A real uvicorn server on a free local port, every route exercised with httpx.

The database and data directory are filled by running the pipeline on a
simulated two-day night (``conftest.pipeline_night``: a calibrator and a target
tile per day, 4 tiles processed); a mosaic, an ESE candidate, variability
statistics and a queued job are added on top through the repositories, since
two epochs give the pipeline none of them (see the fixture).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.api.conftest import free_port, serve_uvicorn

V1 = "/api/v1"


@pytest.fixture(scope="module")
def live(pipeline_night, build_night_app):
    """``(base_url, night, runner)``: uvicorn serving the pipeline's database."""
    app, runner, engine = build_night_app(pipeline_night)
    with serve_uvicorn(app) as base:
        yield base, pipeline_night, runner
    engine.dispose()


def _fits(content):
    from astropy.io import fits

    return fits.open(io.BytesIO(content))


def _png_size(content):
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")


def _same_image_as_fits(image, content):
    """The FITS header agrees with the image row the pipeline recorded."""
    with _fits(content) as hdul:
        header = hdul[0].header
        data = hdul[0].data
    assert (header["NAXIS1"], header["NAXIS2"]) == (image["n_x"], image["n_y"])
    # the row is written from the same numbers the header is: float round-off only
    assert_allclose(
        [header["CRVAL1"], header["CRVAL2"], abs(header["CDELT2"]) * 3600],
        [image["ra_deg"], image["dec_deg"], image["cell_arcsec"]],
        rtol=1e-12,
        atol=1e-9,
    )
    if image["kind"] == "tile":
        assert_allclose(
            [header["CRVAL3"], header["BMAJ"] * 3600, header["NOISE"]],
            [image["frequency_hz"], image["beam_major_arcsec"], image["rms_jy"]],
            rtol=1e-6,  # NOISE is written to the header as float32 text
        )
    assert np.isfinite(data).any()
    return header


def _check_observations(c, night, seen):
    page = c.get(f"{V1}/observations").json()
    assert page["total"] == 4
    assert {o["status"] for o in page["items"]} == {"processed"}
    assert {o["n_files"] for o in page["items"]} == {16}
    assert sorted(o["id"] for o in page["items"]) == night.observation_ids
    assert_allclose([o["dec_deg"] for o in page["items"]], 33.0, atol=1e-6)
    assert c.get(f"{V1}/observations", params={"status": "failed"}).json()["total"] == 0


def _check_observation(c, night, seen):
    obs = c.get(f"{V1}/observations/{night.observation_ids[-1]}").json()
    assert sorted(f["subband"] for f in obs["files"]) == list(range(16))
    kinds = {p["kind"] for p in obs["products"]}
    assert {"image", "plot"} <= kinds
    assert [i["id"] for i in obs["images"]] and obs["images"][0]["kind"] == "tile"
    seen["obs_image_product"] = obs["images"][0]["product_id"]


def _check_product(c, night, seen):
    pid = seen["obs_image_product"]
    prod = c.get(f"{V1}/products/{pid}").json()
    assert prod["kind"] == "image"
    prov = prod["provenance"]
    # an image is made from its 16 raw files and its day's calibration table
    assert len(prov["input_file_ids"]) == 16 and prov["input_product_ids"]
    assert prov["parameters"]["npix"] == 512 and prov["parameters"]["niter"] == 100
    assert prov["job_id"] in night.pipeline_job_ids
    table = c.get(f"{V1}/products/{prov['input_product_ids'][0]}").json()
    assert table["kind"] == "caltable" and table["calibration_set_id"] is not None
    assert table["provenance"]["parameters"]["refant"] == "103"


def _check_images(c, night, seen):
    page = c.get(f"{V1}/images").json()
    # the pipeline's 4 tile images and the out-of-data-dir one the fixture adds
    ids = {i["id"] for i in page["items"]}
    assert ids == set(night.tile_image_ids) | {night.outside_image_id}
    assert page["total"] == 5
    seen["images"] = {i["id"]: i for i in page["items"]}


def _check_image(c, night, seen):
    iid = night.target_image_ids[0]
    image = c.get(f"{V1}/images/{iid}").json()
    assert image == seen["images"][iid]
    assert (image["n_x"], image["cell_arcsec"]) == (512, 8.0)
    assert c.get(f"{V1}/images/{night.mosaic_id}").status_code == 404  # a mosaic


def _check_image_fits(c, night, seen):
    iid = night.target_image_ids[0]
    resp = c.get(f"{V1}/images/{iid}/fits")
    assert resp.headers["content-type"] == "application/fits"
    image = seen["images"][iid]
    _same_image_as_fits(image, resp.content)
    digest = hashlib.sha256(resp.content).hexdigest()
    assert digest in resp.headers["etag"]
    again = c.get(
        f"{V1}/images/{iid}/fits", headers={"If-None-Match": resp.headers["etag"]}
    )
    assert again.status_code == 304
    head = c.head(f"{V1}/images/{iid}/fits")  # uvicorn sends no body for HEAD
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(resp.content)
    assert head.headers["etag"] == resp.headers["etag"]


def _check_image_preview(c, night, seen):
    resp = c.get(
        f"{V1}/images/{night.target_image_ids[0]}/preview.png", params={"size": 64}
    )
    assert max(_png_size(resp.content)) == 64


def _cutout(c, path, night, seen):
    name = night.sky.catalog.sort_values("flux_int").iloc[-1]
    resp = c.get(path, params={"ra": name.ra, "dec": name.dec, "size_arcmin": 8.0})
    with _fits(resp.content) as hdul:
        header, data = hdul[0].header, hdul[0].data
    # 8 arcmin at 8 arcsec a pixel
    assert_allclose(data.shape[-2:], (60, 60), atol=1)
    assert_allclose(abs(header["CDELT2"]) * 3600, 8.0, rtol=1e-9)
    return data


def _check_image_cutout(c, night, seen):
    # the brightest catalog source lies in the target field: the cutout holds it
    data = _cutout(c, f"{V1}/images/{night.target_image_ids[0]}/cutout", night, seen)
    peak = np.unravel_index(np.nanargmax(data), data.shape)
    assert_allclose(peak[-2:], np.array(data.shape[-2:]) / 2, atol=3)  # 3 pixels: beam


def _check_mosaics(c, night, seen):
    page = c.get(f"{V1}/mosaics").json()
    assert [m["id"] for m in page["items"]] == [night.mosaic_id]


def _check_mosaic(c, night, seen):
    mosaic = c.get(f"{V1}/mosaics/{night.mosaic_id}").json()
    assert sorted(m["id"] for m in mosaic["members"]) == sorted(night.target_image_ids)
    seen["mosaic"] = mosaic


def _check_mosaic_fits(c, night, seen):
    resp = c.get(f"{V1}/mosaics/{night.mosaic_id}/fits")
    _same_image_as_fits(seen["mosaic"], resp.content)


def _check_mosaic_preview(c, night, seen):
    resp = c.get(f"{V1}/mosaics/{night.mosaic_id}/preview.png", params={"size": 32})
    assert max(_png_size(resp.content)) == 32


def _check_mosaic_cutout(c, night, seen):
    _cutout(c, f"{V1}/mosaics/{night.mosaic_id}/cutout", night, seen)


def _check_coverage(c, night, seen):
    image = seen["images"][night.target_image_ids[0]]
    hits = c.get(
        f"{V1}/coverage", params={"ra": image["ra_deg"], "dec": image["dec_deg"]}
    )
    ids = {i["id"] for i in hits.json()}
    assert ids == set(night.target_image_ids) | {night.mosaic_id}


def _check_sources(c, night, seen):
    page = c.get(f"{V1}/sources", params={"limit": 500}).json()
    assert page["total"] == len(night.source_ids)
    assert {s["name"] for s in page["items"]} == set(night.source_ids)
    assert night.sky.ese_name in night.source_ids
    assert set(night.source_ids) <= set(night.sky.catalog.name)


def _check_cone(c, night, seen):
    row = night.sky.catalog.set_index("name").loc[night.sky.ese_name]
    hits = c.get(
        f"{V1}/sources/cone", params={"ra": row.ra, "dec": row.dec, "radius": 0.5}
    ).json()
    assert hits[0]["source"]["name"] == night.sky.ese_name
    assert_allclose(
        hits[0]["separation_deg"], 0.0, atol=1e-9
    )  # stored catalog position


def _check_source(c, night, seen):
    sid = night.source_ids[night.sky.ese_name]
    source = c.get(f"{V1}/sources/{sid}").json()
    assert source["name"] == night.sky.ese_name
    assert source["variability"]["n_measurements"] == 2


def _check_lightcurve(c, night, seen):
    sid = night.source_ids[night.sky.ese_name]
    url = f"{V1}/sources/{sid}/lightcurve"
    curve = c.get(url, params={"include_flagged": True}).json()
    points = curve["points"]
    assert len(points) == 2  # one forced measurement per target tile (day)
    assert [p["image_id"] for p in points] == night.target_image_ids
    times = [seen["images"][i]["obs_time"] for i in night.target_image_ids]
    assert [p["time"][:16] for p in points] == [t[:16] for t in times]
    # the simulated flux of each day, within the pipeline test's 25 %
    truth = night.sky.fluxes[night.sky.ese_name]
    assert_allclose([p["flux_jy"] for p in points], truth[:2], rtol=0.25)
    csv = c.get(url, params={"include_flagged": True, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("time,flux_jy")


def _check_variability(c, night, seen):
    sid = night.source_ids[night.sky.ese_name]
    var = c.get(f"{V1}/sources/{sid}/variability").json()
    curve = c.get(f"{V1}/sources/{sid}/lightcurve", params={"include_flagged": True})
    flux = np.array([p["flux_jy"] for p in curve.json()["points"]])
    assert var["n_measurements"] == 2
    assert_allclose(var["mean_flux_jy"], flux.mean(), rtol=1e-12)


def _check_candidates(c, night, seen):
    page = c.get(f"{V1}/candidates", params={"preset": "review"}).json()
    assert [x["id"] for x in page["items"]] == [night.candidate_id]
    assert page["items"][0]["source_name"] == night.sky.ese_name


def _check_candidate(c, night, seen):
    cand = c.get(f"{V1}/candidates/{night.candidate_id}").json()
    assert cand["status"] == "active" and cand["kind"] == "ese"


def _check_candidate_status(c, night, seen):
    resp = c.post(
        f"{V1}/candidates/{night.candidate_id}/status",
        json={"status": "confirmed", "note": "integration"},
    )
    assert resp.json()["status"] == "confirmed" and resp.json()["note"] == "integration"
    confirmed = c.get(f"{V1}/candidates", params={"preset": "confirmed"}).json()
    assert confirmed["total"] == 1


def _check_calibration_sets(c, night, seen):
    page = c.get(f"{V1}/calibration-sets").json()
    assert sorted(s["id"] for s in page["items"]) == sorted(night.calibration_set_ids)
    assert len(page["items"]) == 2  # one calibrator transit a day
    assert {s["calibrator"] for s in page["items"]} == {"3C48"}
    assert all(s["qa_passed"] for s in page["items"])
    seen["cal_sets"] = {s["id"]: s for s in page["items"]}


def _check_validity(c, night, seen):
    first = min(seen["cal_sets"].values(), key=lambda s: s["reference_time"])
    windows = c.get(
        f"{V1}/calibration-sets/validity",
        params={"start": first["reference_time"], "end": first["reference_time"]},
    ).json()
    assert [w["id"] for w in windows] == [first["id"]]


def _check_calibration_set(c, night, seen):
    cal = c.get(f"{V1}/calibration-sets/{night.calibration_set_ids[0]}").json()
    tables = [p for p in cal["products"] if p["kind"] == "caltable"]
    assert len(tables) == 1 and tables[0]["name"].endswith(".zarr")
    assert cal["qa"]["antennas_solved_fraction"] > 0


def _check_plots(c, night, seen):
    plots = c.get(f"{V1}/calibration-sets/{night.calibration_set_ids[0]}/plots").json()
    assert plots and {p["kind"] for p in plots} == {"plot"}
    seen["plot"] = plots[0]


def _check_plot(c, night, seen):
    cal, plot = night.calibration_set_ids[0], seen["plot"]
    resp = c.get(f"{V1}/calibration-sets/{cal}/plots/{plot['id']}")
    _png_size(resp.content)
    assert hashlib.sha256(resp.content).hexdigest() == plot["checksum"]


def _check_jobs(c, night, seen):
    page = c.get(f"{V1}/jobs", params={"state": "succeeded"}).json()
    # one job per processed tile
    assert sorted(j["id"] for j in page["items"]) == night.pipeline_job_ids
    assert len(night.pipeline_job_ids) == 4


def _check_job(c, night, seen):
    job = c.get(f"{V1}/jobs/{night.pipeline_job_ids[0]}").json()
    assert job["state"] == "succeeded" and "stage_start" in job["log"]


def _check_reprocess(c, night, seen):
    resp = c.post(
        f"{V1}/jobs/reprocess",
        json={"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"},
    )
    assert resp.status_code == 202 and resp.json()["state"] == "running"


def _check_cancel(c, night, seen):
    resp = c.post(f"{V1}/jobs/{night.queued_job_id}/cancel")
    assert resp.json()["state"] == "cancelled"
    done = c.post(f"{V1}/jobs/{night.pipeline_job_ids[0]}/cancel")
    assert done.status_code == 409


def _check_health(c, night, seen):
    health = c.get(f"{V1}/health").json()
    assert (
        health["status"] == "ok" and health["checks"]["database"]["detail"] == "sqlite"
    )


def _check_metrics(c, night, seen):
    text = c.get(f"{V1}/metrics").text
    assert "# TYPE" in text


#: One check per route (method, path), run in this order: reads, then mutations.
CHECKS = {
    ("GET", f"{V1}/health"): _check_health,
    ("GET", f"{V1}/observations"): _check_observations,
    ("GET", f"{V1}/observations/{{observation_id}}"): _check_observation,
    ("GET", f"{V1}/products/{{product_id}}"): _check_product,
    ("GET", f"{V1}/images"): _check_images,
    ("GET", f"{V1}/images/{{image_id}}"): _check_image,
    ("GET", f"{V1}/images/{{image_id}}/fits"): _check_image_fits,
    ("GET", f"{V1}/images/{{image_id}}/preview.png"): _check_image_preview,
    ("GET", f"{V1}/images/{{image_id}}/cutout"): _check_image_cutout,
    ("GET", f"{V1}/mosaics"): _check_mosaics,
    ("GET", f"{V1}/mosaics/{{image_id}}"): _check_mosaic,
    ("GET", f"{V1}/mosaics/{{image_id}}/fits"): _check_mosaic_fits,
    ("GET", f"{V1}/mosaics/{{image_id}}/preview.png"): _check_mosaic_preview,
    ("GET", f"{V1}/mosaics/{{image_id}}/cutout"): _check_mosaic_cutout,
    ("GET", f"{V1}/coverage"): _check_coverage,
    ("GET", f"{V1}/sources"): _check_sources,
    ("GET", f"{V1}/sources/cone"): _check_cone,
    ("GET", f"{V1}/sources/{{source_id}}"): _check_source,
    ("GET", f"{V1}/sources/{{source_id}}/lightcurve"): _check_lightcurve,
    ("GET", f"{V1}/sources/{{source_id}}/variability"): _check_variability,
    ("GET", f"{V1}/candidates"): _check_candidates,
    ("GET", f"{V1}/candidates/{{candidate_id}}"): _check_candidate,
    ("GET", f"{V1}/calibration-sets"): _check_calibration_sets,
    ("GET", f"{V1}/calibration-sets/validity"): _check_validity,
    ("GET", f"{V1}/calibration-sets/{{calibration_set_id}}"): _check_calibration_set,
    ("GET", f"{V1}/calibration-sets/{{calibration_set_id}}/plots"): _check_plots,
    (
        "GET",
        f"{V1}/calibration-sets/{{calibration_set_id}}/plots/{{plot_id}}",
    ): _check_plot,
    ("GET", f"{V1}/jobs"): _check_jobs,
    ("GET", f"{V1}/jobs/{{job_id}}"): _check_job,
    ("GET", f"{V1}/metrics"): _check_metrics,
    ("POST", f"{V1}/candidates/{{candidate_id}}/status"): _check_candidate_status,
    ("POST", f"{V1}/jobs/reprocess"): _check_reprocess,
    ("POST", f"{V1}/jobs/{{job_id}}/cancel"): _check_cancel,
}


class _Checked(httpx.Client):
    """An httpx client that fails on any response but 200/202/304/404/409 asked for."""

    def request(self, method, url, **kwargs):
        resp = super().request(method, url, **kwargs)
        assert resp.status_code in (200, 202, 304, 404, 409), (
            method,
            url,
            resp.text[:300],
        )
        return resp


def test_a_write_is_committed_before_its_response_is_sent(tmp_path, build_app, api_key):
    """A client that has the answer to a POST reads what it wrote.

    The commit is slowed down so that a commit made after the response (FastAPI's
    default for dependencies with ``yield``) would be seen still pending.
    """
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from dsa110.db import models

    app, filled, _, engine = build_app(tmp_path)
    cand_id = filled.candidates[0]

    def slow_commit(session):
        time.sleep(0.5)

    event.listen(app.state.sessionmaker, "before_commit", slow_commit)
    with serve_uvicorn(app) as base:
        resp = httpx.post(
            f"{base}{V1}/candidates/{cand_id}/status",
            json={"status": "confirmed", "note": "committed first"},
            headers={"X-API-Key": api_key},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        with Session(engine) as session:
            stored = session.get(models.Candidate, cand_id)
            assert (stored.status, stored.note) == ("confirmed", "committed first")
    engine.dispose()


@pytest.mark.slow  # the `live` fixture runs a pipeline night (~70 s)
def test_every_route_over_http_on_pipeline_data(live, api_key):
    base, night, runner = live
    doc = httpx.get(f"{base}{V1}/openapi.json").json()
    routes = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert routes == set(CHECKS), "a route without a check (or a check without a route)"
    seen = {}
    with _Checked(base_url=base, headers={"X-API-Key": api_key}, timeout=60) as client:
        for check in CHECKS.values():
            check(client, night, seen)
    assert len(runner.submitted) == 1
    assert runner.cancelled == [(night.queued_job_id, None)]


@pytest.mark.slow  # the `live` fixture runs a pipeline night (~70 s)
def test_file_download_over_http_matches_disk(live):
    base, night, _ = live
    for route, iid in (
        ("images", night.tile_image_ids[0]),
        ("mosaics", night.mosaic_id),
    ):
        meta = httpx.get(f"{base}{V1}/{route}/{iid}").json()
        prod = httpx.get(f"{base}{V1}/products/{meta['product_id']}").json()
        resp = httpx.get(f"{base}{V1}/{route}/{iid}/fits")
        assert hashlib.sha256(resp.content).hexdigest() == prod["checksum"]
        assert len(resp.content) == prod["size_bytes"]


@pytest.mark.slow  # the `live` fixture runs a pipeline night (~70 s)
def test_raw_traversal_over_http(live):
    """Raw (un-normalised) request targets reach the server as sent."""
    base, night, _ = live
    host, port = base.removeprefix("http://").split(":")
    for target in (
        f"{V1}/images/../../../../etc/passwd",
        f"{V1}/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/fits",
        f"{V1}/images/{night.outside_image_id}/fits",
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
def test_serve_command_starts_and_refuses_a_taken_port(pipeline_night, api_key):
    """``dsa110 serve`` in a subprocess against the pipeline's SQLite database."""
    from dsa110.api import hash_api_key

    url = pipeline_night.database_url
    port = free_port()
    env = dict(os.environ, DSA110_API_KEY_HASHES=hash_api_key(api_key))
    cmd = [
        sys.executable,
        "-m",
        "dsa110",
        "serve",
        "--db",
        url,
        "--data-dir",
        str(pipeline_night.data_dir),
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
