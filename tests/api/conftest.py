"""Databases for the service tests.

The fast TestClient tests use a database filled through the repositories with
realistic synthetic rows (fixtures below): four observation groups of 16 subband files at a
pointing declination near +33°, their MS and FITS image products (real FITS files
written with astropy, a Gaussian source at a known position), a mosaic, a
calibration set with a real PNG solution plot, 40 sources with light curves and
variability statistics, ESE/transient candidates, and jobs. The uvicorn
integration test uses ``pipeline_night``: a database filled by running the
pipeline on a simulated two-day strip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dsa110.api import Settings, create_app, hash_api_key
from dsa110.db import (
    CalibrationRepository,
    CandidateRepository,
    ImageRepository,
    JobRepository,
    ObservationRepository,
    ProductRepository,
    SourceRepository,
    init_db,
    make_sessionmaker,
    session_scope,
)

API_KEY = "dsa110-test-key-0123456789abcdef"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TILE = dt.timedelta(seconds=309)
DEC0 = 33.0
N_PIX = 128
CELL_ARCSEC = 60.0


@dataclasses.dataclass
class Filled:
    """Ids of what :func:`populate` wrote, for the tests to use."""

    data_dir: Path
    outside_file: Path
    observations: list
    images: list
    mosaic: int
    calibration_set: int
    plot: int
    caltable: int
    sources: list
    candidates: list
    jobs: list
    outside_image: int
    symlink_image: int
    source_position: tuple


def write_fits(
    path: Path, *, ra_deg: float, dec_deg: float, src_ra: float, src_dec: float, rng
):
    """Write a SIN-projected image with noise and a Gaussian at (src_ra, src_dec)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [N_PIX / 2 + 1, N_PIX / 2 + 1]
    wcs.wcs.cdelt = [-CELL_ARCSEC / 3600, CELL_ARCSEC / 3600]
    wcs.wcs.cunit = ["deg", "deg"]
    x, y = wcs.world_to_pixel_values(src_ra, src_dec)
    yy, xx = np.mgrid[:N_PIX, :N_PIX]
    data = rng.normal(0, 1e-3, (N_PIX, N_PIX)).astype(np.float32)
    data += (0.5 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))).astype(
        np.float32
    )
    header = wcs.to_header()
    header["BUNIT"] = "JY/BEAM"
    fits.PrimaryHDU(data, header=header).writeto(path)


def populate(factory, data_dir: Path, outside_dir: Path, *, seed: int = 0) -> Filled:
    """Fill a migrated database through the repositories; return the ids."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rng = np.random.default_rng(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    outside_dir.mkdir(parents=True, exist_ok=True)
    src_ra, src_dec = 150.2, DEC0 + 0.1
    with session_scope(factory) as session:
        obs_repo = ObservationRepository(session)
        prod = ProductRepository(session)
        images = ImageRepository(session)
        cal_repo = CalibrationRepository(session)
        src_repo = SourceRepository(session)
        cand_repo = CandidateRepository(session)
        job_repo = JobRepository(session)

        job_ok = job_repo.create("reprocess", parameters={"start": T0.isoformat()})
        job_repo.mark_running(job_ok.id, runner_key="k1")
        job_repo.append_log(job_ok.id, "imaged 4 tiles\n")
        job_repo.mark_finished(job_ok.id)
        job_bad = job_repo.create("reprocess", parameters={"start": T0.isoformat()})
        job_repo.mark_running(job_bad.id)
        job_repo.append_log(job_bad.id, "sb05 missing\n")
        job_repo.mark_finished(
            job_bad.id, error="MissingSubbandError: group lacks sb05"
        )
        job_queued = job_repo.create("reprocess", parameters={"start": T0.isoformat()})

        cal = cal_repo.add(
            "cal_3C286_2026-03-01",
            calibrator="3C286",
            reference_time=T0,
            dec_deg=DEC0,
            qa={"flagged_fraction": 0.12, "gain_rms": 0.03},
        )
        plot_path = data_dir / "cal" / "gains.png"
        plot_path.parent.mkdir()
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(rng.normal(size=20))
        fig.savefig(plot_path)
        plt.close(fig)
        plot = prod.register(
            "plot", plot_path, code_version="0.1.0", calibration_set_id=cal.id
        )
        table_path = data_dir / "cal" / "gains.zarr"
        table_path.mkdir()
        (table_path / "gains.npy").write_bytes(rng.bytes(256))
        caltable = prod.register(
            "caltable", table_path, code_version="0.1.0", calibration_set_id=cal.id
        )

        obs_ids, image_ids = [], []
        for i in range(4):
            start = T0 + i * TILE
            ra = 148.0 + i * 1.29  # the meridian moves 1.29 deg per 309 s tile
            obs = obs_repo.add(
                start.strftime("%Y-%m-%dT%H:%M:%S"),
                start_time=start,
                end_time=start + TILE,
                dec_deg=DEC0 + rng.normal(0, 0.01),
                ra_deg=ra,
                status=["processed", "processed", "complete", "incomplete"][i],
                qa={"flagged_fraction": float(rng.uniform(0.05, 0.2))},
            )
            for sb in range(16 if i < 3 else 15):
                file_time = start + dt.timedelta(seconds=int(rng.integers(0, 30)))
                name = f"{file_time:%Y-%m-%dT%H:%M:%S}_sb{sb:02d}.hdf5"
                obs_repo.add_file(
                    obs,
                    f"/incoming/{name}",
                    subband=sb,
                    start_time=start,
                    size_bytes=140_000_000,
                )
            obs_ids.append(obs.id)
            if i >= 3:
                continue
            ms_dir = data_dir / "ms" / f"{obs.group_id}.ms"
            ms_dir.mkdir(parents=True)
            (ms_dir / "table.f0").write_bytes(rng.bytes(512))
            ms = prod.register(
                "ms",
                ms_dir,
                code_version="0.1.0",
                observation_id=obs.id,
                inputs_files=[f.id for f in obs.files],
                parameters={"phase_centre": "median meridian"},
                job_id=job_ok.id,
            )
            fits_path = data_dir / "images" / f"{obs.group_id}.fits"
            fits_path.parent.mkdir(exist_ok=True)
            write_fits(
                fits_path,
                ra_deg=ra,
                dec_deg=DEC0,
                src_ra=src_ra,
                src_dec=src_dec,
                rng=rng,
            )
            img_prod = prod.register(
                "image",
                fits_path,
                code_version="0.1.0",
                observation_id=obs.id,
                inputs_products=[ms.id, caltable.id],
                parameters={"cell_arcsec": CELL_ARCSEC, "weighting": "briggs 0"},
                job_id=job_ok.id,
            )
            image = images.add(
                img_prod,
                name=obs.group_id,
                obs_time=start + TILE / 2,
                ra_deg=ra,
                dec_deg=DEC0,
                radius_deg=N_PIX * CELL_ARCSEC / 3600 / 2,
                n_x=N_PIX,
                n_y=N_PIX,
                cell_arcsec=CELL_ARCSEC,
                frequency_hz=1.405e9,
                bandwidth_hz=1.875e8,
                rms_jy=1e-3,
                beam_major_arcsec=180.0,
                beam_minor_arcsec=120.0,
                beam_pa_deg=0.0,
                observation_id=obs.id,
            )
            image_ids.append(image.id)

        mosaic_path = data_dir / "mosaics" / "mosaic_2026-03-01.fits"
        mosaic_path.parent.mkdir()
        write_fits(
            mosaic_path,
            ra_deg=149.3,
            dec_deg=DEC0,
            src_ra=src_ra,
            src_dec=src_dec,
            rng=rng,
        )
        mosaic_prod = prod.register("mosaic", mosaic_path, code_version="0.1.0")
        mosaic = images.add(
            mosaic_prod,
            name="mosaic_2026-03-01",
            kind="mosaic",
            obs_time=T0 + TILE,
            ra_deg=149.3,
            dec_deg=DEC0,
            radius_deg=2.5,
            n_x=N_PIX,
            n_y=N_PIX,
            cell_arcsec=CELL_ARCSEC,
            frequency_hz=1.405e9,
            bandwidth_hz=1.875e8,
            members=image_ids,
        )

        # a product registered outside the data directory, and a symlink escaping it
        outside = outside_dir / "secret.fits"
        write_fits(outside, ra_deg=0, dec_deg=0, src_ra=0, src_dec=0, rng=rng)
        out_prod = prod.register("image", outside, code_version="0.1.0")
        link = data_dir / "images" / "link.fits"
        link.symlink_to(outside)
        link_prod = prod.register(
            "image", link, code_version="0.1.0", checksum="0" * 64
        )
        common = dict(
            obs_time=T0,
            ra_deg=0.0,
            dec_deg=0.0,
            radius_deg=1.0,
            n_x=N_PIX,
            n_y=N_PIX,
            cell_arcsec=CELL_ARCSEC,
            frequency_hz=1.4e9,
            bandwidth_hz=1.875e8,
        )
        outside_image = images.add(out_prod, name="outside", **common).id
        symlink_image = images.add(link_prod, name="symlink", **common).id

        source_ids = []
        n_src = 40
        ras = src_ra + rng.uniform(-1.5, 1.5, n_src)
        decs = DEC0 + rng.uniform(-1.5, 1.5, n_src)
        ras[0], decs[0] = src_ra, src_dec
        for k in range(n_src):
            s = src_repo.add(
                f"DSA J{ras[k]:08.4f}{decs[k]:+08.4f}",
                ra_deg=ras[k],
                dec_deg=decs[k],
                catalog="NVSS",
                reference_flux_jy=float(rng.uniform(0.01, 1)),
            )
            flux = rng.normal(0.5, 0.01, len(image_ids))
            src_repo.add_measurements(
                s.id,
                [
                    {
                        "time": T0 + j * TILE + TILE / 2,
                        "flux_jy": float(flux[j]),
                        "flux_err_jy": 0.01,
                        "image_id": image_ids[j],
                        "snr": float(flux[j] / 1e-3),
                    }
                    for j in range(len(image_ids))
                ],
            )
            m = float(np.std(flux) / np.mean(flux))
            src_repo.set_variability(
                s.id,
                n_measurements=len(flux),
                mean_flux_jy=float(np.mean(flux)),
                std_flux_jy=float(np.std(flux)),
                modulation_index=m,
                eta=float(np.var(flux, ddof=1) / 0.01**2) if k else 25.0,
                chi2_reduced=1.0,
                max_deviation_sigma=2.0,
            )
            source_ids.append(s.id)
        cand_ese = cand_repo.add(
            source_ids[0],
            score=8.5,
            time_start=T0,
            time_end=T0 + 3 * TILE,
            details={"dip_fraction": 0.4},
        )
        cand_tr = cand_repo.add(
            source_ids[1],
            score=3.0,
            time_start=T0,
            time_end=T0 + TILE,
            kind="transient",
            detected_at=T0 - dt.timedelta(days=30),
        )
        return Filled(
            data_dir=data_dir,
            outside_file=outside,
            observations=obs_ids,
            images=image_ids,
            mosaic=mosaic.id,
            calibration_set=cal.id,
            plot=plot.id,
            caltable=caltable.id,
            sources=source_ids,
            candidates=[cand_ese.id, cand_tr.id],
            jobs=[job_ok.id, job_bad.id, job_queued.id],
            outside_image=outside_image,
            symlink_image=symlink_image,
            source_position=(src_ra, src_dec),
        )


class FakeRunner:
    """A job runner that records submissions and cancellations (runs nothing)."""

    def __init__(self):
        self.submitted = []
        self.cancelled = []

    def submit(self, job_id, kind, parameters):
        self.submitted.append((job_id, kind, parameters))
        return f"fake-{job_id}"

    def cancel(self, job_id, runner_key):
        self.cancelled.append((job_id, runner_key))
        return True


def build(tmp_path: Path, *, db_url: str | None = None, **settings):
    """A filled database (SQLite unless ``db_url``), its app, and the fake runner."""
    data_dir = tmp_path / "data"
    engine = init_db(db_url or f"sqlite:///{tmp_path / 'db.sqlite'}")
    filled = populate(make_sessionmaker(engine), data_dir, tmp_path / "outside")
    runner = FakeRunner()
    cfg = Settings(
        data_dir=data_dir, api_key_hashes=[hash_api_key(API_KEY)], **settings
    )
    app = create_app(cfg, engine=engine, job_runner=runner)
    return app, filled, runner, engine


@pytest.fixture
def service(tmp_path):
    """``(client, filled, runner)`` on a freshly filled database."""
    from fastapi.testclient import TestClient

    app, filled, runner, engine = build(tmp_path)
    with TestClient(app) as client:
        yield client, filled, runner
    engine.dispose()


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory):
    """Like ``service`` but shared by a module's read-only tests."""
    from fastapi.testclient import TestClient

    app, filled, runner, engine = build(tmp_path_factory.mktemp("shared"))
    with TestClient(app) as client:
        yield client, filled, runner
    engine.dispose()


@pytest.fixture(scope="session")
def api_key():
    """The API key the test app accepts (configured by its hash)."""
    return API_KEY


@pytest.fixture(scope="session")
def build_app():
    """The :func:`build` factory: ``build(tmp_path, **settings)``."""
    return build


# --------------------------------------------------------------------------
# A database filled by the pipeline (the integration test's fixture)
# --------------------------------------------------------------------------


@dataclasses.dataclass
class PipelineNight:
    """What :func:`pipeline_night` made: the pipeline's database plus a few additions.

    The ``*_ids`` are database ids; ``sky`` is the simulator's truth
    (:class:`dsa110.pipeline.demo.DemoSky`).
    """

    data_dir: Path
    database_url: str
    sky: object
    results: list
    observation_ids: list
    tile_image_ids: list
    target_image_ids: list
    calibration_set_ids: list
    pipeline_job_ids: list
    source_ids: dict
    mosaic_id: int
    candidate_id: int
    queued_job_id: int
    outside_image_id: int


def _fits_geometry(path: Path) -> dict:
    """Centre, size, cell and beam of a SIN image, as ImageRepository.add takes them."""
    from astropy.io import fits

    header = fits.getheader(path)
    n_x, n_y = header["NAXIS1"], header["NAXIS2"]
    cell = abs(header["CDELT2"]) * 3600
    return dict(
        ra_deg=header["CRVAL1"],
        dec_deg=header["CRVAL2"],
        radius_deg=max(n_x, n_y) * cell / 3600 / 2,
        n_x=n_x,
        n_y=n_y,
        cell_arcsec=cell,
        beam_major_arcsec=header["BMAJ"] * 3600,
        beam_minor_arcsec=header["BMIN"] * 3600,
        beam_pa_deg=header["BPA"],
    )


def _fill_pipeline_night(root: Path) -> PipelineNight:
    """Simulate two days, run the pipeline, then add what it cannot make yet."""
    from sqlalchemy import select

    from dsa110.db.models import Image, Job, Observation, Product, Source
    from dsa110.imaging.mosaic import mosaic_fits
    from dsa110.pipeline.batch import run_batch
    from dsa110.pipeline.config import load_config
    from dsa110.pipeline.context import PipelineContext
    from dsa110.pipeline.demo import simulate_demo_night

    raw = root / "raw"
    sky = simulate_demo_night(raw, n_days=2, n_catalog=12)
    data_dir = root / "data"
    config = load_config(
        overrides=[
            f"runtime.data_dir={data_dir}",
            "imaging.npix=512",
            "imaging.cell_arcsec=8.0",
            "imaging.niter=100",
            "imaging.major_cycles=1",
        ]
    )
    ctx = PipelineContext(config)
    ctx.catalog_store.add(sky.catalog, "nvss", overwrite=True)
    results = run_batch(raw, config, progress=False, out=lambda *a: None)
    assert [r.status for r in results] == ["processed"] * 4, [r.error for r in results]

    with session_scope(ctx.session_factory) as session:
        obs_ids = list(session.scalars(select(Observation.id).order_by(Observation.id)))
        images = list(session.scalars(select(Image).order_by(Image.obs_time)))
        tile_ids = [i.id for i in images]
        by_path = {session.get(Product, i.product_id).path: i for i in images}
        # the target tiles are those that used (did not solve) their day's calibration
        target_paths = [Path(r.image) for r in results if not r.solved_here]
        targets = [by_path[str(p)] for p in target_paths]
        target_ids = [i.id for i in targets]
        target_products = [i.product_id for i in targets]
        cal_ids = [c.id for c in CalibrationRepository(session).list(limit=100).items]
        job_ids = list(session.scalars(select(Job.id).order_by(Job.id)))
        source_ids = {
            s.name: s.id for s in session.scalars(select(Source).order_by(Source.id))
        }

    # The pipeline makes no mosaics (config ``imaging.mosaic_tiles`` tiles per
    # mosaic, never reached by two tiles a day). Mosaic the two target epochs
    # (the same field on both days; a day's calibrator and target tiles do not
    # overlap) with the library's linear mosaic, and record it as a mosaic would be.
    mosaic_out = data_dir / "mosaics" / "target-2epoch"
    mosaic_out.parent.mkdir(parents=True)
    made = mosaic_fits(target_paths, mosaic_out)
    # The demo's two epochs do not pass an ESE preset (that needs >= 5 epochs),
    # and the pipeline's epoch QA flags these small images' measurements, so it
    # records neither candidates nor variability statistics: add them through
    # the repositories on top of the pipeline's measurements.
    outside_dir = root / "outside"
    outside_dir.mkdir()
    outside = outside_dir / "secret.fits"
    write_fits(
        outside, ra_deg=0, dec_deg=0, src_ra=0, src_dec=0, rng=np.random.default_rng(1)
    )
    with session_scope(ctx.session_factory) as session:
        prod = ProductRepository(session)
        image_repo = ImageRepository(session)
        mosaic_prod = prod.register(
            "mosaic",
            made["mosaic"],
            code_version="test",
            parameters={"pb_limit": 0.2},
            inputs_products=target_products,
        )
        first = session.get(Image, target_ids[0])
        mosaic = image_repo.add(
            mosaic_prod,
            name=mosaic_out.name,
            kind="mosaic",
            obs_time=first.obs_time,
            frequency_hz=first.frequency_hz,
            bandwidth_hz=first.bandwidth_hz,
            members=target_ids,
            **_fits_geometry(made["mosaic"]),
        )
        src_repo = SourceRepository(session)
        for sid in source_ids.values():
            points = src_repo.light_curve(sid, include_flagged=True, limit=100)
            flux = np.array([m.flux_jy for m in points])
            err = np.array([m.flux_err_jy for m in points])
            mean = float(np.mean(flux))
            chi2 = float(np.sum((flux - mean) ** 2 / err**2) / (len(flux) - 1))
            src_repo.set_variability(
                sid,
                n_measurements=len(flux),
                mean_flux_jy=mean,
                std_flux_jy=float(np.std(flux, ddof=1)),
                modulation_index=float(np.std(flux, ddof=1) / mean),
                eta=chi2,
                chi2_reduced=chi2,
                max_deviation_sigma=float(np.max(np.abs(flux - mean) / err)),
            )
        ese_points = src_repo.light_curve(
            source_ids[sky.ese_name], include_flagged=True, limit=100
        )
        candidate = CandidateRepository(session).add(
            source_ids[sky.ese_name],
            score=6.0,
            time_start=ese_points[0].time,
            time_end=ese_points[-1].time,
            details={"added_by": "tests/api (two epochs pass no preset)"},
        )
        # every pipeline job is finished: queue one for the cancel route
        queued = JobRepository(session).create("reprocess", parameters={})
        out_prod = prod.register("image", outside, code_version="test")
        outside_image = image_repo.add(
            out_prod,
            name="outside",
            obs_time=T0,
            frequency_hz=1.4e9,
            bandwidth_hz=1.875e8,
            **_fits_geometry_plain(),
        )
        return PipelineNight(
            data_dir=data_dir,
            database_url=ctx.database_url,
            sky=sky,
            results=results,
            observation_ids=obs_ids,
            tile_image_ids=tile_ids,
            target_image_ids=target_ids,
            calibration_set_ids=cal_ids,
            pipeline_job_ids=job_ids,
            source_ids=source_ids,
            mosaic_id=mosaic.id,
            candidate_id=candidate.id,
            queued_job_id=queued.id,
            outside_image_id=outside_image.id,
        )


def _fits_geometry_plain() -> dict:
    """Geometry of a :func:`write_fits` image (no beam keywords)."""
    return dict(
        ra_deg=0.0,
        dec_deg=0.0,
        radius_deg=1.0,
        n_x=N_PIX,
        n_y=N_PIX,
        cell_arcsec=CELL_ARCSEC,
    )


@pytest.fixture(scope="session")
def pipeline_night(tmp_path_factory):
    """The pipeline run on a simulated two-day night (~1 min), once a session."""
    return _fill_pipeline_night(tmp_path_factory.mktemp("pipeline_night"))


def build_on_night(night: PipelineNight, **settings):
    """The app (and its fake runner, engine) serving a :class:`PipelineNight`."""
    engine = init_db(night.database_url)
    runner = FakeRunner()
    cfg = Settings(
        data_dir=night.data_dir, api_key_hashes=[hash_api_key(API_KEY)], **settings
    )
    return create_app(cfg, engine=engine, job_runner=runner), runner, engine


@pytest.fixture(scope="session")
def build_night_app():
    """The :func:`build_on_night` factory: ``build_on_night(night, **settings)``."""
    return build_on_night


# --------------------------------------------------------------------------
# A real uvicorn server (the integration and concurrency tests)


def free_port():
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_uvicorn(app):
    """Serve ``app`` with uvicorn on a free local port; yield the base URL."""
    import uvicorn

    port = free_port()
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
