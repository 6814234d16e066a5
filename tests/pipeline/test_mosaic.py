"""The mosaic stage: grouping consecutive tiles, end to end across RA 0/360,
the database records, idempotence, replacement and failures."""

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from dsa110.pipeline.mosaic import TileImage, plan_mosaics

T0 = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
TILE = dt.timedelta(seconds=309)


def _tiles(starts_min, dec=33.0, first_id=1):
    return [
        TileImage(
            first_id + k,
            f"g{first_id + k}",
            T0 + dt.timedelta(minutes=m),
            T0 + dt.timedelta(minutes=m) + TILE,
            dec,
        )
        for k, m in enumerate(starts_min)
    ]


def _ids(groups):
    return [[t.image_id for t in g] for g in groups]


def test_plan_groups_consecutive_tiles_per_strip():
    step = TILE.total_seconds() / 60
    run = _tiles([k * step for k in range(7)])  # 7 back-to-back tiles
    # Full groups of 3 from the run's first tile; the last tile alone is no mosaic.
    assert _ids(plan_mosaics(run, n_tiles=3, final=True)) == [[1, 2, 3], [4, 5, 6]]
    # A trailing group of 2 is made once the run is over (end of a batch) ...
    run6 = run[:5]
    assert _ids(plan_mosaics(run6, n_tiles=3, final=True)) == [[1, 2, 3], [4, 5]]
    assert _ids(plan_mosaics(run6, n_tiles=3, final=True, partial=False)) == [[1, 2, 3]]
    # ... but a watcher waits for it to fill up, unless a later tile closes the run.
    assert _ids(plan_mosaics(run6, n_tiles=3)) == [[1, 2, 3]]
    late = _tiles([60 * 3], first_id=50)
    assert _ids(plan_mosaics(run6 + late, n_tiles=3)) == [[1, 2, 3], [4, 5]]
    # A gap longer than one tile length breaks the run: two missing tiles do,
    # one does not (DSA-110's fields overlap by ~2/3 of their width, so one
    # missing tile leaves lower sensitivity in a mosaic, not a hole).
    gappy = _tiles([0, step, 4 * step, 5 * step, 6 * step])
    assert _ids(plan_mosaics(gappy, n_tiles=3, final=True)) == [[1, 2], [3, 4, 5]]
    one_missing = _tiles([0, step, 3 * step, 4 * step])
    assert _ids(plan_mosaics(one_missing, n_tiles=3, final=True)) == [[1, 2, 3]]
    assert _ids(plan_mosaics(gappy, n_tiles=3, final=True, max_gap_s=700)) == [
        [1, 2, 3],
        [4, 5],
    ]
    # Tiles of another declination strip are never mixed in, even at the same times.
    other = _tiles([k * step for k in range(3)], dec=50.5, first_id=100)
    assert _ids(plan_mosaics(run[:3] + other, n_tiles=3, final=True)) == [
        [1, 2, 3],
        [100, 101, 102],
    ]
    with pytest.raises(ValueError, match="at least 2"):
        plan_mosaics(run, n_tiles=1)


def _ra_zero_start(dec_deg):
    """Return a start such that the meridian crosses RA 0 ~1.5 small tiles later."""
    from astropy.time import Time

    from dsa110.phasing import meridian_centers
    from dsa110.telescope import default_site

    t = Time("2026-11-24T00:00:00").unix
    for _ in range(3):  # sidereal rate: 360.9856° a day
        ra, _ = meridian_centers(np.array([t]), np.radians(dec_deg), default_site())
        t -= ((np.degrees(ra[0]) + 180.0) % 360.0 - 180.0) / 360.9856 * 86400.0
    return Time(t - 1.5 * 6 * 12.884901888, format="unix").isot


@pytest.fixture(scope="module")
def wrap_run(tmp_path_factory):
    """Simulate 5 small tiles at +33° straddling RA 0 (sources on both sides)."""
    from dsa110.simulate import SkyModel, simulate_observation

    raw = tmp_path_factory.mktemp("wrap") / "raw"
    dec = 33.0
    # Sources straddling RA 0 (and one on the strip's edge of each end).
    ra = np.array([359.55, 359.85, 0.15, 0.45, 0.75])
    decs = np.array([32.95, 32.75, 32.9, 32.8, 32.88])  # the fields' centre: ICRS 32.85
    flux = np.array([1.0, 0.8, 1.2, 0.7, 0.9])
    tiles = simulate_observation(
        raw,
        preset="small",
        seed=7,
        start=_ra_zero_start(dec),
        n_tiles=5,
        dec_deg=dec,
        sources=SkyModel.from_degrees(ra, decs, flux),
        population=False,
        gains=False,
    )
    return raw, tiles, (ra, decs, flux)


def _config(data_dir, *extra):
    from dsa110.pipeline.config import load_config

    return load_config(
        overrides=[
            f"runtime.data_dir={data_dir}",
            # Perfect simulated gains; no calibrator transits near RA 0 at +33°.
            "calibration.enabled=false",
            # The small preset's 12-antenna beam is ~21" x 5.7": 2.5" pixels sample it.
            "imaging.npix=1024",
            "imaging.cell_arcsec=2.5",
            "imaging.niter=100",
            "imaging.major_cycles=1",
            "imaging.mosaic_tiles=3",
            *extra,
        ]
    )


def _count(ctx, model, *where):
    from dsa110.db import session_scope

    with session_scope(ctx.session_factory) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.slow  # runs the pipeline on simulated tiles (20-40 s)
def test_mosaic_stage_end_to_end(wrap_run, tmp_path):
    from dsa110.db import ImageRepository, ProductRepository, session_scope
    from dsa110.db.models import Image, Job, MosaicMember
    from dsa110.io import find_groups
    from dsa110.photometry import forced_photometry, read_image
    from dsa110.pipeline.batch import run_batch
    from dsa110.pipeline.context import PipelineContext
    from dsa110.pipeline.mosaic import make_mosaics, pending_mosaics
    from dsa110.pipeline.tile import process_tile

    raw, tiles, (ra, decs, flux) = wrap_run
    cfg = _config(tmp_path / "data")
    ctx = PipelineContext(cfg)
    results = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    assert [r.status for r in results] == ["processed"] * 5, [r.error for r in results]
    # 5 consecutive tiles, 3 per mosaic: one full mosaic and (batch end) the last 2.
    assert [m.status for m in results.mosaics] == ["made", "made"], [
        m.error for m in results.mosaics
    ]
    assert [len(m.members) for m in results.mosaics] == [3, 2]
    assert _count(ctx, Image, Image.kind == "mosaic") == 2
    assert _count(ctx, MosaicMember) == 5
    assert _count(ctx, Job, Job.kind == "mosaic", Job.state == "succeeded") == 2

    with session_scope(ctx.session_factory) as session:
        irepo, prepo = ImageRepository(session), ProductRepository(session)
        mosaics = irepo.list(kind="mosaic").items
        tile_products = {i.product_id for i in irepo.list(kind="tile").items}
        first = next(m for m in mosaics if m.name.endswith("-n3"))
        members = irepo.members(first.id)
        assert [i.observation.group_id for i in members] == results.mosaics[0].members
        product = prepo.get(first.product_id)
        assert product.kind == "mosaic" and product.checksum and product.size_bytes > 0
        assert Path(product.path).exists()
        prov = product.provenance
        assert (
            prov.code_version
            and prov.parameters["members"] == results.mosaics[0].members
        )
        inputs = {i.input_product_id for i in prov.inputs}
        # The members' PB-corrected images (and their beams) are the inputs.
        assert {i.product_id for i in members} <= inputs
        assert len(inputs) == 6 and not inputs <= tile_products
        folder = Path(product.path).parent
        for name in ("-weight.fits", "-noise.fits", ".png"):
            assert (folder / f"{first.name}{name}").exists()
            assert prepo.get_by_path(folder / f"{first.name}{name}").provenance
        assert not list(folder.parent.glob(".*tmp*"))
        # The footprint spans RA 0: centre near it, radius a few tile widths, not 180°.
        assert min(first.ra_deg, 360 - first.ra_deg) < 0.6
        assert 0.5 < first.radius_deg < 2.0
        assert first.rms_jy > 0 and first.beam_major_arcsec > 0
        # Coverage queries see the mosaic on both sides of RA 0.
        for r in (359.8, 0.2):
            assert first.id in {i.id for i in irepo.covering(r, 33.0, kind="mosaic")}
        path = product.path
        member_paths = [i.product.path for i in members]
        tile_noise = {i.product.path: i.rms_jy for i in members}
    # The sources on both sides of RA 0 are in the mosaic with the flux of the
    # PB^2/sigma^2-weighted mean of its members' measurements (the reprojection
    # interpolates a beam sampled by ~2 pixels across its minor axis: 10 %) and
    # near their true flux (12-antenna snapshots, sidelobe confusion, 100
    # CLEAN iterations: 30 %).
    from astropy.io import fits

    image = read_image(path)
    forced = forced_photometry(image, ra, decs)
    inside = forced["inside"].to_numpy() & np.isfinite(forced["flux"].to_numpy())
    assert inside.sum() >= 3 and (ra[inside] > 359).any() and (ra[inside] < 1).any()
    num = np.zeros(ra.size)
    den = np.zeros(ra.size)
    for member in member_paths:
        tile = read_image(member)
        beam = fits.getdata(member.replace("-image-pb.fits", "-pb.fits")).squeeze()
        f = forced_photometry(tile, ra, decs)
        ok = f["inside"].to_numpy() & np.isfinite(f["flux"].to_numpy())
        x, y = tile.wcs.world_to_pixel_values(ra, decs)
        pb = np.zeros(ra.size)
        pb[ok] = beam[np.round(y[ok]).astype(int), np.round(x[ok]).astype(int)]
        w = np.where(ok, pb**2 / tile_noise[member] ** 2, 0.0)
        num += w * np.nan_to_num(f["flux"].to_numpy())
        den += w
    np.testing.assert_allclose(
        forced["flux"].to_numpy()[inside], (num / den)[inside], rtol=0.1
    )
    np.testing.assert_allclose(
        forced["flux"].to_numpy()[inside], flux[inside], rtol=0.3
    )

    # A rerun makes nothing new; a watcher's pass neither.
    again = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    assert [r.status for r in again] == ["skipped"] * 5 and again.mosaics == []
    assert make_mosaics(ctx) == [] and _count(ctx, Image, Image.kind == "mosaic") == 2
    # A forced mosaic rerun replaces it (same tiles, new records, no duplicate).
    (redo,) = make_mosaics(ctx, group_ids=[results.mosaics[0].members[0]], force=True)
    assert redo.status == "made" and redo.retired == [first.name]
    assert (
        _count(ctx, Image, Image.kind == "mosaic") == 2
        and _count(ctx, MosaicMember) == 5
    )
    # Reprocessing a member tile retires its mosaic; the next pass makes it again.
    groups = find_groups(raw)
    assert process_tile(groups[1], cfg, force=True).status == "processed"
    assert _count(ctx, Image, Image.kind == "mosaic") == 1
    assert not Path(path).exists()
    (remade,) = make_mosaics(ctx, final=True)
    assert remade.status == "made" and remade.members == results.mosaics[0].members
    assert _count(ctx, Image, Image.kind == "mosaic") == 2
    # A watcher (final=False) would not have made the trailing pair of an open run.
    assert pending_mosaics(ctx, final=False, force=True) == [
        g for g in pending_mosaics(ctx, final=True, force=True) if len(g) == 3
    ]


@pytest.mark.slow  # runs the pipeline on simulated tiles (20-40 s)
def test_mosaic_failure_is_recorded_and_the_batch_goes_on(wrap_run, tmp_path):
    from dsa110.db import session_scope
    from dsa110.db.models import Image, Job
    from dsa110.pipeline.batch import run_batch
    from dsa110.pipeline.context import PipelineContext

    raw, tiles, _ = wrap_run
    cfg = _config(tmp_path / "data", "imaging.mosaic_tiles=2")
    ctx = PipelineContext(cfg)
    results = run_batch(raw, cfg, progress=False, out=lambda *a: None)
    assert len(results.mosaics) == 2  # [t0 t1] [t2 t3]; t4 alone is no mosaic
    # Break one member's beam file and force the mosaics again.
    victim = Path(results[0].image.replace("-image-pb.fits", "-pb.fits"))
    victim.write_bytes(b"not a FITS file")
    from dsa110.pipeline.mosaic import make_mosaics

    out = make_mosaics(ctx, force=True, final=True)
    status = sorted(m.status for m in out)
    assert status == ["failed", "made"], [m.error for m in out]
    failed = next(m for m in out if m.status == "failed")
    assert "pb.fits" in failed.error
    with session_scope(ctx.session_factory) as session:
        job = session.scalars(
            select(Job).where(Job.kind == "mosaic", Job.state == "failed")
        ).one()
        assert "pb.fits" in job.error and "stage_failed" in job.log
    # The failed rerun left the earlier mosaic of those tiles, and no temp files.
    assert _count(ctx, Image, Image.kind == "mosaic") == 2
    mosaics_dir = tmp_path / "data" / "products" / "mosaics"
    assert not list(mosaics_dir.glob(".*tmp*"))
