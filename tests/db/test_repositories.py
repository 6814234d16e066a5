"""Repository behaviour on SQLite and (marked ``postgres``) PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sqlalchemy.exc import IntegrityError

from dsa110.db import (
    CalibrationRepository,
    CandidateRepository,
    ImageRepository,
    InvalidStateError,
    JobRepository,
    NotFoundError,
    ObservationRepository,
    ProductRepository,
    SourceRepository,
    session_scope,
)
from dsa110.db.repositories._common import angular_separation_deg

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TILE = dt.timedelta(seconds=309)


def _add_observations(session, n, rng):
    repo = ObservationRepository(session)
    decs = rng.uniform(-10, 80, n)
    out = []
    for i in range(n):
        start = T0 + i * TILE
        obs = repo.add(
            start.strftime("%Y-%m-%dT%H:%M:%S"),
            start_time=start,
            end_time=start + TILE,
            dec_deg=decs[i],
            status="complete" if i % 2 == 0 else "processed",
        )
        for sb in range(3):
            repo.add_file(
                obs,
                f"/data/{obs.group_id}_sb{sb:02d}.hdf5",
                subband=sb,
                start_time=start,
            )
        out.append(obs)
    return out


def test_observations_filters_and_pages(session_factory):
    rng = np.random.default_rng(1)
    with session_scope(session_factory) as session:
        obs = _add_observations(session, 12, rng)
        decs = np.array([o.dec_deg for o in obs])
    with session_scope(session_factory) as session:
        repo = ObservationRepository(session)
        page = repo.list(limit=5, offset=0)
        assert page.total == 12 and len(page.items) == 5
        # newest first, and the pages tile the whole list without overlap
        ids = [o.id for p in range(3) for o in repo.list(limit=5, offset=5 * p).items]
        assert sorted(ids) == sorted(o.id for o in obs) and len(set(ids)) == 12
        starts = [o.start_time for o in repo.list(limit=12).items]
        assert starts == sorted(starts, reverse=True)
        sel = repo.list(dec_min=20, dec_max=50, limit=100)
        assert sel.total == int(np.sum((decs >= 20) & (decs <= 50)))
        assert repo.list(status="processed").total == 6
        window = repo.list(
            start=T0 + 3 * TILE + dt.timedelta(seconds=1), end=T0 + 5 * TILE
        )
        assert sorted(o.group_id for o in window.items) == sorted(
            o.group_id for o in obs[3:6]
        )
        detail = repo.get(obs[0].id)
        assert [f.subband for f in detail.files] == [0, 1, 2] and detail.n_files == 3
        assert detail.start_time.tzinfo is not None
        with pytest.raises(InvalidStateError, match="status must be one of"):
            repo.list(status="bogus")
        with pytest.raises(NotFoundError):
            repo.get(10_000)


def test_duplicate_group_is_rejected(session_factory):
    with pytest.raises(IntegrityError), session_scope(session_factory) as session:
        repo = ObservationRepository(session)
        for _ in range(2):
            repo.add("g", start_time=T0, end_time=T0 + TILE, dec_deg=10.0)


def test_products_checksum_size_and_provenance(session_factory, tmp_path):
    rng = np.random.default_rng(2)
    ms_dir = tmp_path / "tile.ms"
    ms_dir.mkdir()
    (ms_dir / "table.dat").write_bytes(rng.bytes(1000))
    image = tmp_path / "tile.fits"
    payload = rng.bytes(4321)
    image.write_bytes(payload)
    with session_scope(session_factory) as session:
        (obs,) = _add_observations(session, 1, rng)
        repo = ProductRepository(session)
        ms = repo.register(
            "ms",
            ms_dir,
            code_version="0.1.0",
            observation_id=obs.id,
            inputs_files=[f.id for f in obs.files],
            parameters={"rephase": "median"},
        )
        img = repo.register(
            "image",
            image,
            code_version="0.1.0",
            inputs_products=[ms.id],
            parameters={"cell_arcsec": 3.0},
        )
        img_id, ms_id = img.id, ms.id
    with session_scope(session_factory) as session:
        repo = ProductRepository(session)
        img = repo.get(img_id)
        assert img.checksum == hashlib.sha256(payload).hexdigest()
        assert img.size_bytes == len(payload)
        assert repo.get(ms_id).size_bytes == 1000
        assert img.provenance.code_version == "0.1.0"
        assert img.provenance.parameters == {"cell_arcsec": 3.0}
        assert [p.id for p in repo.lineage(img_id)] == [ms_id]
        assert len(repo.get(ms_id).provenance.inputs) == 3
        assert repo.get_by_path(image).id == img_id
        assert repo.list(kind="ms").total == 1
        with pytest.raises(InvalidStateError):
            repo.register("nonsense", tmp_path / "x", code_version="0")


def test_calibration_lookup_newest_valid_within_window_and_dec(session_factory):
    with session_scope(session_factory) as session:
        repo = CalibrationRepository(session)
        old = repo.add(
            "old",
            calibrator="3C286",
            reference_time=T0 - dt.timedelta(hours=6),
            dec_deg=30.0,
        )
        new = repo.add(
            "new",
            calibrator="3C286",
            reference_time=T0 - dt.timedelta(hours=1),
            dec_deg=30.0,
        )
        repo.add(
            "bad_qa",
            calibrator="3C286",
            reference_time=T0,
            dec_deg=30.0,
            qa_passed=False,
        )
        repo.add("far_dec", calibrator="3C48", reference_time=T0, dec_deg=36.0)
        ids = {"old": old.id, "new": new.id}
    with session_scope(session_factory) as session:
        repo = CalibrationRepository(session)
        # newest valid, QA-passed set within 5 degrees
        assert repo.find_valid(T0, T0 + TILE, dec_deg=29.0).id == ids["new"]
        # 11.5 h after "new"'s reference: only "new" still covers the whole tile
        late = T0 + dt.timedelta(hours=10, minutes=25)
        assert repo.find_valid(late, late + TILE, dec_deg=30.0).id == ids["new"]
        # past both windows (+/- 12 h): nothing
        later = T0 + dt.timedelta(hours=11, minutes=30)
        assert repo.find_valid(later, later + TILE, dec_deg=30.0) is None
        # 5.5 degrees away from every QA-passed set at 30 degrees
        assert repo.find_valid(T0, dec_deg=24.5) is None
        # "far_dec" at 36 is within 5 degrees of 40
        assert repo.find_valid(T0, dec_deg=40.0).name == "far_dec"
        assert repo.find_valid(T0, dec_deg=30.0, require_qa=False).name == "bad_qa"
        assert repo.list(qa_passed=False).total == 1
        # only the two sets referenced at T0 are still valid 11.5 h later
        assert repo.list(start=T0 + dt.timedelta(hours=11, minutes=30)).total == 2


def test_cone_search_matches_brute_force(session_factory):
    rng = np.random.default_rng(3)
    n = 300
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-0.3, 1.0, n)))
    with session_scope(session_factory) as session:
        repo = SourceRepository(session)
        for i in range(n):
            repo.add(f"S{i:04d}", ra_deg=ra[i], dec_deg=dec[i])
    centre = (359.0, 60.0)  # near RA wrap-around, high declination
    radius = 12.0
    sep = np.array([angular_separation_deg(*centre, r, d) for r, d in zip(ra, dec)])
    expected = sorted(f"S{i:04d}" for i in np.flatnonzero(sep <= radius))
    with session_scope(session_factory) as session:
        hits = SourceRepository(session).cone_search(*centre, radius)
    assert sorted(s.name for s, _ in hits) == expected
    assert len(expected) > 3
    got = np.array([d for _, d in hits])
    assert np.all(np.diff(got) >= 0)  # nearest first
    # separations round-trip through the database's floats: 1e-9 deg is negligible
    assert_allclose(got, np.sort(sep[sep <= radius]), rtol=0, atol=1e-9)


def test_light_curve_variability_and_candidates(session_factory):
    rng = np.random.default_rng(4)
    times = [T0 + i * TILE for i in range(20)]
    flux = rng.normal(1.0, 0.05, 20)
    with session_scope(session_factory) as session:
        repo = SourceRepository(session)
        src = repo.add("J0000+0000", ra_deg=0.1, dec_deg=0.2)
        order = rng.permutation(20)
        repo.add_measurements(
            src.id,
            [
                {
                    "time": times[i],
                    "flux_jy": flux[i],
                    "flux_err_jy": 0.05,
                    "flagged": i == 7,
                }
                for i in order
            ],
        )
        repo.set_variability(
            src.id,
            n_measurements=20,
            mean_flux_jy=1.0,
            std_flux_jy=0.05,
            modulation_index=0.05,
            eta=1.0,
            chi2_reduced=1.1,
        )
        repo.set_variability(
            src.id,
            n_measurements=20,
            mean_flux_jy=1.0,
            std_flux_jy=0.05,
            modulation_index=0.05,
            eta=9.0,
            chi2_reduced=1.1,
        )
        cands = CandidateRepository(session)
        c1 = cands.add(src.id, score=7.0, time_start=times[0], time_end=times[5])
        c2 = cands.add(
            src.id,
            score=2.0,
            time_start=times[0],
            time_end=times[5],
            kind="transient",
            detected_at=T0 - dt.timedelta(days=30),
        )
        sid, c1id, c2id = src.id, c1.id, c2.id
    with session_scope(session_factory) as session:
        repo = SourceRepository(session)
        lc = repo.light_curve(sid)
        assert [m.time for m in lc] == [t for i, t in enumerate(times) if i != 7]
        # float64 columns on both backends: values round-trip up to float rounding
        assert_allclose([m.flux_jy for m in lc], np.delete(flux, 7), rtol=1e-12, atol=0)
        assert len(repo.light_curve(sid, include_flagged=True)) == 20
        assert repo.get(sid).variability.eta == 9.0
        assert repo.list(min_eta=5).total == 1 and repo.list(min_eta=10).total == 0
        cands = CandidateRepository(session)
        assert [c.id for c in cands.list().items] == [c1id, c2id]
        assert [c.id for c in cands.list(preset="strong").items] == [c1id]
        assert [c.id for c in cands.list(preset="recent", now=T0).items] == [c1id]
        assert cands.list(kind="transient").total == 1
        cands.set_status(c2id, "dismissed", note="RFI")
        with pytest.raises(InvalidStateError, match="dismissed"):
            cands.set_status(c2id, "confirmed")
        cands.set_status(c1id, "confirmed", note="looks like an ESE")
        assert cands.get(c1id).note == "looks like an ESE"
        assert cands.list(status="active").total == 0


def test_job_lifecycle(session_factory):
    with session_scope(session_factory) as session:
        repo = JobRepository(session)
        job = repo.create("reprocess", parameters={"start": "2026-03-01T00:00:00"})
        assert job.state == "queued"
        repo.mark_running(job.id, runner_key="dask-key")
        repo.append_log(job.id, "step 1\n")
        repo.append_log(job.id, "step 2\n")
        repo.mark_finished(job.id, error="IncompleteGroupError: sb05 missing")
        assert job.state == "failed" and job.finished_at >= job.started_at
        assert job.log == "step 1\nstep 2\n"
        with pytest.raises(InvalidStateError, match="already failed"):
            repo.cancel(job.id)
        other = repo.create("reprocess")
        repo.cancel(other.id)
        assert repo.list(state="cancelled").total == 1
        assert repo.list().total == 2


def test_image_coverage(session_factory, tmp_path):
    with session_scope(session_factory) as session:
        products = ProductRepository(session)
        images = ImageRepository(session)
        ids = []
        for i, (ra, dec) in enumerate([(10.0, 40.0), (15.0, 40.0), (200.0, 40.0)]):
            p = products.register("image", tmp_path / f"i{i}.fits", code_version="0")
            ids.append(
                images.add(
                    p,
                    name=f"i{i}",
                    obs_time=T0 + i * TILE,
                    ra_deg=ra,
                    dec_deg=dec,
                    radius_deg=2.0,
                    n_x=64,
                    n_y=64,
                    cell_arcsec=60,
                    frequency_hz=1.4e9,
                    bandwidth_hz=1.875e8,
                ).id
            )
        p = products.register("mosaic", tmp_path / "m.fits", code_version="0")
        mosaic = images.add(
            p,
            name="m",
            kind="mosaic",
            obs_time=T0,
            ra_deg=12.5,
            dec_deg=40.0,
            radius_deg=5.0,
            n_x=64,
            n_y=64,
            cell_arcsec=60,
            frequency_hz=1.4e9,
            bandwidth_hz=1.875e8,
            members=ids[:2],
        )
        mid = mosaic.id
    with session_scope(session_factory) as session:
        images = ImageRepository(session)
        # (11.5, 40): 1.15 deg from i0, 2.68 deg from i1 (beyond its 2 deg radius)
        assert [i.id for i in images.covering(11.5, 40.0, kind="tile")] == [ids[0]]
        assert {i.id for i in images.covering(11.5, 40.0)} == {ids[0], mid}
        assert [i.id for i in images.members(mid)] == ids[:2]
        assert images.list().total == 3 and images.list(kind="mosaic").total == 1
        with pytest.raises(NotFoundError):
            images.get(ids[0], kind="mosaic")


def test_bulk_sources_and_measurements(session_factory):
    rng = np.random.default_rng(5)
    n = 200
    ra, dec = rng.uniform(0, 360, n), rng.uniform(-20, 80, n)
    with session_scope(session_factory) as session:
        repo = SourceRepository(session)
        ids = repo.add_many(
            {"name": f"B{i:04d}", "ra_deg": ra[i], "dec_deg": dec[i]} for i in range(n)
        )
        assert len(set(ids)) == n
        flux = rng.normal(1, 0.1, n)
        assert (
            repo.add_measurements(
                None,
                [
                    {
                        "source_id": ids[i],
                        "time": T0,
                        "flux_jy": flux[i],
                        "flux_err_jy": 0.1,
                    }
                    for i in range(n)
                ],
            )
            == n
        )
    with session_scope(session_factory) as session:
        repo = SourceRepository(session)
        # ids come back in input order
        assert [repo.get(ids[i]).name for i in (0, 57, n - 1)] == [
            "B0000",
            "B0057",
            f"B{n - 1:04d}",
        ]
        got = [repo.light_curve(ids[i])[0].flux_jy for i in range(0, n, 20)]
        # float64 round trip
        assert_allclose(got, flux[::20], rtol=1e-12, atol=0)
        assert repo.add_many([]) == []


def test_ensure_sources_is_safe_for_concurrent_writers(session_factory):
    """Tiles processed at once create the same catalogue sources: one row each."""
    names = [f"NVSS J{i:04d}+4000" for i in range(60)]
    with session_scope(session_factory) as session:
        first = SourceRepository(session).ensure(
            [{"name": names[0], "ra_deg": 370.0, "dec_deg": 40.0, "catalog": "nvss"}]
        )
    barrier = threading.Barrier(4)

    def writer(seed):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(names))
        rows = [
            {"name": names[i], "ra_deg": float(i), "dec_deg": 40.0, "catalog": "nvss"}
            for i in order
        ]
        barrier.wait()
        with session_scope(session_factory) as session:
            return SourceRepository(session).ensure(rows + rows[:5])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(writer, range(4)))
    assert all(r == results[0] for r in results)
    assert sorted(results[0]) == sorted(names)
    assert results[0][names[0]] == first[names[0]]
    with session_scope(session_factory) as session:
        repo = SourceRepository(session)
        assert repo.list(limit=1000).total == len(names)
        # the existing source keeps its first position
        assert repo.get(first[names[0]]).ra_deg == pytest.approx(10.0)
        assert repo.ensure([]) == {}
