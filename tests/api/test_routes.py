"""Every route through FastAPI's TestClient, on a database filled via repositories."""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pytest
from numpy.testing import assert_allclose

from dsa110.db.repositories._common import angular_separation_deg

V1 = "/api/v1"


@pytest.fixture
def client(shared_service):
    return shared_service[0]


@pytest.fixture
def filled(shared_service):
    return shared_service[1]


def test_health_and_metrics(client):
    body = client.get(f"{V1}/health").json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "data_dir", "scheduler"}
    client.get(f"{V1}/observations")
    text = client.get(f"{V1}/metrics").text
    assert (
        'dsa110_http_requests_total{method="GET",route="/api/v1/observations",status="200"}'
        in text
    )
    assert 'dsa110_observations{state="processed"} 2.0' in text


def test_observation_list_filters_and_pagination(client, filled):
    page = client.get(f"{V1}/observations", params={"limit": 3}).json()
    assert page["total"] == 4 and len(page["items"]) == 3
    starts = [o["start_time"] for o in page["items"]]
    assert starts == sorted(starts, reverse=True)
    rest = client.get(f"{V1}/observations", params={"limit": 3, "offset": 3}).json()
    ids = [o["id"] for o in page["items"] + rest["items"]]
    assert sorted(ids) == sorted(filled.observations)
    assert (
        client.get(f"{V1}/observations", params={"status": "incomplete"}).json()[
            "total"
        ]
        == 1
    )
    assert client.get(f"{V1}/observations", params={"dec_min": 40}).json()["total"] == 0
    late = client.get(
        f"{V1}/observations", params={"start": "2026-03-01T12:14:00Z"}
    ).json()
    assert late["total"] == 2


def test_observation_detail(client, filled):
    detail = client.get(f"{V1}/observations/{filled.observations[0]}").json()
    assert len(detail["files"]) == 16
    assert [f["subband"] for f in detail["files"]] == list(range(16))
    assert {p["kind"] for p in detail["products"]} == {"ms", "image"}
    assert all("/" not in p["name"] for p in detail["products"])  # never a path
    assert "path" not in str(detail)
    assert len(detail["images"]) == 1 and "flagged_fraction" in detail["qa"]


def test_product_provenance(client, filled):
    image = client.get(f"{V1}/images/{filled.images[0]}").json()
    prov = client.get(f"{V1}/products/{image['product_id']}").json()["provenance"]
    assert prov["code_version"] == "0.1.0"
    assert filled.caltable in prov["input_product_ids"]
    assert prov["parameters"]["weighting"] == "briggs 0"


def test_images_list_detail_fits_etag(client, filled):
    page = client.get(f"{V1}/images").json()
    assert {i["id"] for i in page["items"]} >= set(filled.images)
    assert all(i["kind"] == "tile" for i in page["items"])
    path = filled.data_dir / "images"
    meta = client.get(f"{V1}/images/{filled.images[0]}").json()
    resp = client.get(f"{V1}/images/{filled.images[0]}/fits")
    assert resp.status_code == 200
    expected = (path / f"{meta['name']}.fits").read_bytes()
    assert resp.content == expected
    assert resp.headers["etag"] == f'"{hashlib.sha256(expected).hexdigest()}"'
    assert "immutable" in resp.headers["cache-control"]
    again = client.get(
        f"{V1}/images/{filled.images[0]}/fits",
        headers={"If-None-Match": resp.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    weak = client.get(  # If-None-Match compares weakly: W/"x" matches "x"
        f"{V1}/images/{filled.images[0]}/fits",
        headers={"If-None-Match": "W/" + resp.headers["etag"]},
    )
    assert weak.status_code == 304
    # a mosaic is not an image id on /images
    assert client.get(f"{V1}/images/{filled.mosaic}").status_code == 404


def test_preview_png(client, filled):
    from PIL import Image

    resp = client.get(
        f"{V1}/images/{filled.images[0]}/preview.png", params={"size": 64}
    )
    assert resp.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(resp.content))
    assert max(img.size) == 64
    assert resp.headers["etag"].endswith('-png64"')


def test_cutout_centres_on_the_source(client, filled):
    from astropy.io import fits
    from astropy.wcs import WCS

    ra, dec = filled.source_position
    resp = client.get(
        f"{V1}/images/{filled.images[1]}/cutout",
        params={"ra": ra, "dec": dec, "size_arcmin": 15},
    )
    assert resp.status_code == 200
    with fits.open(io.BytesIO(resp.content)) as hdul:
        data, wcs = hdul[0].data, WCS(hdul[0].header)
    assert data.shape == (15, 15)  # 15 arcmin at 60 arcsec per pixel
    y, x = np.unravel_index(np.argmax(data), data.shape)
    peak_ra, peak_dec = wcs.pixel_to_world_values(x, y)
    # the Gaussian is centred on the source; the brightest pixel is within half a pixel
    assert angular_separation_deg(peak_ra, peak_dec, ra, dec) * 3600 <= 60 * np.sqrt(
        0.5
    )
    png = client.get(
        f"{V1}/images/{filled.images[1]}/cutout",
        params={"ra": ra, "dec": dec, "format": "png"},
    )
    assert png.headers["content-type"] == "image/png"
    far = client.get(
        f"{V1}/images/{filled.images[1]}/cutout", params={"ra": 10, "dec": -30}
    )
    assert far.status_code == 422 and far.json()["error"]["code"] == "outside_image"


def test_mosaics_and_coverage(client, filled):
    page = client.get(f"{V1}/mosaics").json()
    assert [m["id"] for m in page["items"]] == [filled.mosaic]
    detail = client.get(f"{V1}/mosaics/{filled.mosaic}").json()
    assert [m["id"] for m in detail["members"]] == filled.images
    assert client.get(f"{V1}/mosaics/{filled.mosaic}/fits").status_code == 200
    assert client.get(f"{V1}/mosaics/{filled.mosaic}/preview.png").status_code == 200
    assert client.get(f"{V1}/mosaics/{filled.images[0]}").status_code == 404
    ra, dec = filled.source_position
    covering = client.get(f"{V1}/coverage", params={"ra": ra, "dec": dec}).json()
    expected = []
    for item in (
        client.get(f"{V1}/images", params={"limit": 500}).json()["items"]
        + page["items"]
    ):
        if (
            angular_separation_deg(ra, dec, item["ra_deg"], item["dec_deg"])
            <= item["radius_deg"]
        ):
            expected.append(item["id"])
    assert sorted(i["id"] for i in covering) == sorted(expected)
    assert filled.mosaic in expected and len(expected) >= 2


def test_sources_cone_detail_variability(client, filled):
    page = client.get(f"{V1}/sources", params={"limit": 10}).json()
    assert page["total"] == 40 and len(page["items"]) == 10
    names = [s["name"] for s in page["items"]]
    assert names == sorted(names)
    ra, dec = filled.source_position
    hits = client.get(
        f"{V1}/sources/cone", params={"ra": ra, "dec": dec, "radius": 0.7}
    ).json()
    seps = [h["separation_deg"] for h in hits]
    assert seps == sorted(seps) and hits[0]["source"]["id"] == filled.sources[0]
    assert all(s <= 0.7 for s in seps)
    allsrc = client.get(f"{V1}/sources", params={"limit": 500}).json()["items"]
    inside = [
        s["id"]
        for s in allsrc
        if angular_separation_deg(ra, dec, s["ra_deg"], s["dec_deg"]) <= 0.7
    ]
    assert sorted(h["source"]["id"] for h in hits) == sorted(inside)
    src = client.get(f"{V1}/sources/{filled.sources[0]}").json()
    var = client.get(f"{V1}/sources/{filled.sources[0]}/variability").json()
    assert var == src["variability"] and var["eta"] == 25.0
    assert client.get(f"{V1}/sources", params={"min_eta": 20}).json()["total"] >= 1


def test_light_curve_json_and_csv(client, filled):
    sid = filled.sources[3]
    lc = client.get(f"{V1}/sources/{sid}/lightcurve").json()
    assert len(lc["points"]) == 3
    times = [p["time"] for p in lc["points"]]
    assert times == sorted(times)
    resp = client.get(f"{V1}/sources/{sid}/lightcurve", params={"format": "csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    # CSV floats are repr()-formatted: they round-trip exactly
    assert_allclose(
        [float(r["flux_jy"]) for r in rows],
        [p["flux_jy"] for p in lc["points"]],
        rtol=0,
        atol=0,
    )
    assert [r["image_id"] for r in rows] == [str(i) for i in filled.images]


def test_candidates_presets_and_filters(client, filled):
    allc = client.get(f"{V1}/candidates").json()
    assert [c["id"] for c in allc["items"]] == filled.candidates  # by score
    strong = client.get(f"{V1}/candidates", params={"preset": "strong"}).json()
    assert [c["id"] for c in strong["items"]] == filled.candidates[:1]
    recent = client.get(f"{V1}/candidates", params={"preset": "recent"}).json()
    assert [c["id"] for c in recent["items"]] == filled.candidates[:1]
    trans = client.get(f"{V1}/candidates", params={"kind": "transient"}).json()
    assert [c["id"] for c in trans["items"]] == filled.candidates[1:]
    one = client.get(f"{V1}/candidates/{filled.candidates[0]}").json()
    assert one["details"] == {"dip_fraction": 0.4}


def test_calibration_routes(client, filled):
    page = client.get(f"{V1}/calibration-sets").json()
    assert page["total"] == 1
    windows = client.get(
        f"{V1}/calibration-sets/validity",
        params={"start": "2026-03-01T00:00:00", "end": "2026-03-02T00:00:00"},
    ).json()
    assert windows[0]["valid_start"] == "2026-03-01T00:00:00Z"
    assert windows[0]["valid_end"] == "2026-03-02T00:00:00Z"
    detail = client.get(f"{V1}/calibration-sets/{filled.calibration_set}").json()
    assert detail["qa"]["gain_rms"] == 0.03
    assert {p["kind"] for p in detail["products"]} == {"plot", "caltable"}
    plots = client.get(f"{V1}/calibration-sets/{filled.calibration_set}/plots").json()
    assert [p["id"] for p in plots] == [filled.plot]
    png = client.get(
        f"{V1}/calibration-sets/{filled.calibration_set}/plots/{filled.plot}"
    )
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # the caltable is a product of this set but not a plot
    wrong = client.get(
        f"{V1}/calibration-sets/{filled.calibration_set}/plots/{filled.caltable}"
    )
    assert wrong.status_code == 404
    bad = client.get(
        f"{V1}/calibration-sets/validity",
        params={"start": "2026-03-02T00:00:00", "end": "2026-03-01T00:00:00"},
    )
    assert bad.status_code == 422


def test_jobs_read(client, filled):
    page = client.get(f"{V1}/jobs").json()
    assert page["total"] == 3
    failed = client.get(f"{V1}/jobs", params={"state": "failed"}).json()["items"]
    assert [j["id"] for j in failed] == [filled.jobs[1]]
    detail = client.get(f"{V1}/jobs/{filled.jobs[1]}").json()
    assert (
        detail["log"] == "sb05 missing\n" and "MissingSubbandError" in detail["error"]
    )


def test_openapi_is_served(client):
    doc = client.get(f"{V1}/openapi.json").json()
    assert doc["info"]["title"] == "dsa110"
    assert f"{V1}/jobs/reprocess" in doc["paths"]


def test_health_reports_degraded_components(client, monkeypatch, tmp_path):
    import contextlib
    import socket

    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens here once closed
    settings = client.app.state.settings.model_copy(
        update={
            "dask_scheduler": f"tcp://127.0.0.1:{closed_port}",
            "data_dir": tmp_path / "gone",
        }
    )
    monkeypatch.setattr(client.app.state, "settings", settings)
    resp = client.get(f"{V1}/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["checks"]["scheduler"] == {
        "ok": False,
        "detail": "Dask scheduler unreachable",
    }
    assert body["checks"]["data_dir"] == {
        "ok": False,
        "detail": "data directory does not exist",
    }
    assert body["checks"]["database"]["ok"] is True


def test_database_outage_is_503_in_the_envelope(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from dsa110.db import ObservationRepository

    def down(self, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(ObservationRepository, "list", down)
    resp = client.get(f"{V1}/observations")
    assert resp.status_code == 503
    assert resp.json()["error"] == {
        "code": "database_unavailable",
        "message": "the database is unavailable",
        "details": None,
    }
