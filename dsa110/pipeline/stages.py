"""The pipeline's stages: each one calls the science package that does the work.

open → flag → calibration (solve on a calibrator transit, or the newest valid
solutions for this declination strip) → apply → image (rephased to the tile's
median meridian) → forced photometry and source finding → variability. The
pipeline adds no science of its own: these functions only choose parameters
from the configuration and pass data between packages.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110.errors import DSA110Error
from dsa110.pipeline.config import PipelineConfig

__all__ = [
    "CalibrationUnavailableError",
    "CalibrationChoice",
    "open_tile",
    "flag_tile",
    "find_calibrator_transit",
    "solve_on_transit",
    "calibration_field",
    "choose_calibration",
    "image_tile_products",
    "measure_image",
]


class CalibrationUnavailableError(DSA110Error, RuntimeError):
    """No calibration can be applied to a tile (no transit, no valid solutions)."""


def utc_datetime(unix_seconds: float) -> dt.datetime:
    """A timezone-aware UTC datetime from unix seconds."""
    return dt.datetime.fromtimestamp(float(unix_seconds), tz=dt.timezone.utc)


def open_tile(group, config: PipelineConfig):
    """Open a group lazily with the configured missing-subband policy.

    Parameters
    ----------
    group : ObservationGroup or sequence of path-like
    config : PipelineConfig

    Returns
    -------
    xarray.Dataset
    """
    from dsa110.io import open_observation

    chunks = {"time": config.input.time_chunk} if config.input.time_chunk else None
    return open_observation(group, missing=config.input.missing, chunks=chunks)


def flag_tile(ds, config: PipelineConfig):
    """Flag RFI with the configured strategy; a no-op when disabled.

    The flags are computed here, once, and held in memory (one byte per
    visibility and polarization: 170 MB for a full tile); the visibilities stay
    lazy. Every later pass over the tile (the solve on a transit, the imaging
    weights, the Stokes I visibilities) then reads the data again but does not
    run the flagger again, which a lazy ``FLAG`` would do in each of them.
    """
    if not config.flagging.enabled:
        return ds
    from dsa110.flagging import flag_rfi

    ds = flag_rfi(ds, strategy=config.flagging.strategy)
    return ds.assign(FLAG=ds["FLAG"].persist())


def calibrator_transit(pointing_dec: float, times, config: PipelineConfig):
    """The configured (or best) calibrator whose transit lies within ``times``.

    Parameters
    ----------
    pointing_dec : float
        Pointing declination, radians.
    times : array-like of float
        ``(time,)`` integration centres, unix seconds UTC.
    config : PipelineConfig

    Returns
    -------
    (Calibrator, int) or None
        The calibrator and the integration of its transit.
    """
    from dsa110.catalogs import (
        CalibratorNotFoundError,
        best_calibrator,
        find_transit,
        get_calibrator,
    )

    cal_cfg = config.calibration
    try:
        if cal_cfg.calibrator:
            cal = get_calibrator(cal_cfg.calibrator)
        else:
            cal = best_calibrator(
                float(pointing_dec), min_flux_jy=cal_cfg.min_calibrator_flux_jy
            )
    except CalibratorNotFoundError:
        return None
    hit = find_transit(cal, np.asarray(times))
    return None if hit is None else (cal, int(hit[0]))


def find_calibrator_transit(ds, config: PipelineConfig):
    """The calibrator whose transit this tile holds, if any is usable.

    Parameters
    ----------
    ds : xarray.Dataset
    config : PipelineConfig

    Returns
    -------
    (Calibrator, int) or None
        The calibrator and the integration of its transit.
    """
    return calibrator_transit(ds.attrs["pointing_dec"], ds["time"].values, config)


@dataclass
class CalibrationChoice:
    """The solutions a tile is calibrated with, and where they came from.

    Attributes
    ----------
    solutions : xarray.Dataset
    calibration_set_id : int
    solved_here : bool
        True when this tile held the calibrator transit they were solved on.
    calibrator : str
    source : Calibrator or None
        The calibrator solved on, when ``solved_here``: the model the calibrated
        data were made to match (see ``imaging.subtract_calibrator``).
    """

    solutions: object
    calibration_set_id: int
    solved_here: bool
    calibrator: str
    source: object = None


def solve_on_transit(ds, cal, config: PipelineConfig, field=()):
    """Rephase to the calibrator and solve bandpass and gains.

    Parameters
    ----------
    ds : xarray.Dataset
        The (flagged) tile holding the transit.
    cal : Calibrator
    config : PipelineConfig
    field : sequence of sources
        The field's other sources, modelled beside the calibrator
        (:func:`calibration_field`).

    Returns
    -------
    xarray.Dataset
        The solution table with QA metrics.
    """
    from dsa110.calibration import solve_calibration
    from dsa110.phasing import rephase

    c = config.calibration
    return solve_calibration(
        rephase(ds, (cal.ra, cal.dec)),
        [cal, *field],
        solint=c.gain_solint,
        gain_mode=c.gain_mode,
        refant=c.refant,
        min_snr=c.min_snr,
        min_baselines=c.min_baselines,
        uvmin_lambda=c.uvmin_lambda,
    )


def calibration_field(ctx, ds, cal):
    """Return the reference survey's sources to model beside a calibrator in its solve.

    Those whose flux through the primary beam at the transit (pointing at the
    calibrator's RA) is at least ``calibration.field_min_apparent_jy``, within
    the beam's first null at the band's lowest frequency; none when
    ``calibration.field_model`` is off or the survey is not in the catalog store.

    Parameters
    ----------
    ctx : PipelineContext
    ds : xarray.Dataset
        The tile.
    cal : Calibrator

    Returns
    -------
    list of dsa110.calibration.PointSource
    """
    c = ctx.config.calibration
    if not c.field_model:
        return []
    return survey_in_beam(
        ctx,
        (cal.ra, float(ds.attrs["pointing_dec"])),
        ds["frequency"].values,
        c.field_min_apparent_jy,
        exclude=[cal],
    )


def survey_in_beam(ctx, pointing, frequency, min_apparent_jy, *, exclude=()):
    """Return the reference survey's sources the primary beam lets through.

    Parameters
    ----------
    ctx : PipelineContext
    pointing : (float, float)
        Where the beam points, ICRS radians.
    frequency : array-like
        The tile's channel frequencies, Hz.
    min_apparent_jy : float
        Smallest flux through the beam at the band's centre, Jy.
    exclude : sequence of sources, keyword-only
        Already modelled (see :func:`dsa110.calibration.field_sources`).

    Returns
    -------
    list of dsa110.calibration.PointSource
        Within the beam's first null at the band's lowest frequency; brightest
        (through the beam) first; empty without the survey in the catalog store.
    """
    from dsa110.calibration import field_sources
    from dsa110.telescope import DISH_DIAMETER_M, SPEED_OF_LIGHT

    freq = np.asarray(frequency, dtype=np.float64)
    # the Airy pattern's first zero: sin θ = 1.2197 λ / D
    first_null = np.degrees(1.2197 * SPEED_OF_LIGHT / (freq.min() * DISH_DIAMETER_M))
    ra, dec = (float(c) for c in pointing)
    cat = catalog_in_field(
        ctx, float(np.degrees(ra)), float(np.degrees(dec)), first_null
    )
    return field_sources(
        cat,
        ra,
        dec,
        float(np.mean(freq)),
        min_apparent_jy=min_apparent_jy,
        exclude=exclude,
    )


def solutions_pass_qa(solutions, antennas) -> tuple[bool, dict]:
    """Whether a solution table is good enough to register for a strip.

    At least half of the antennas with data must have solutions.

    Parameters
    ----------
    solutions : xarray.Dataset
        A solution table.
    antennas : array-like of int
        Numbers of the antennas with data in the tile.

    Returns
    -------
    bool, dict
        The verdict and the QA summary stored with the calibration set.
    """
    frac = np.asarray(
        solutions["QA_FLAG_FRACTION"].sel(antenna=np.asarray(antennas)).values,
        dtype=np.float64,
    )
    solved = float(np.mean(frac < 1.0)) if frac.size else 0.0
    qa = {
        "antennas_solved_fraction": solved,
        "median_flag_fraction": float(np.median(frac)) if frac.size else 1.0,
    }
    return solved >= 0.5, qa


def choose_calibration(
    ds, ctx, *, group_id: str, observation_id: int | None, job_id: int | None
):
    """Solve on this tile's calibrator transit, or find valid solutions for it.

    Parameters
    ----------
    ds : xarray.Dataset
        The flagged tile.
    ctx : PipelineContext
    group_id : str
    observation_id, job_id : int or None
        For provenance.

    Returns
    -------
    CalibrationChoice

    Raises
    ------
    CalibrationUnavailableError
        When the tile holds no usable transit and no registered solutions cover
        its time (± the validity window) and declination (± the allowed offset):
        never another strip's solutions.
    """
    from dsa110.calibration import load_solutions, save_solutions
    from dsa110.db import CalibrationRepository, ProductRepository, session_scope

    from dsa110.pipeline.context import code_version

    cfg = ctx.config
    times = np.asarray(ds["time"].values)
    dec_deg = float(np.degrees(ds.attrs["pointing_dec"]))
    transit = find_calibrator_transit(ds, cfg)
    if transit is not None:
        cal, idx = transit
        field = calibration_field(ctx, ds, cal)
        solutions = solve_on_transit(ds, cal, cfg, field)
        solutions.attrs["field_sources"] = len(field)
        antennas = np.union1d(ds["antenna1"].values, ds["antenna2"].values)
        passed, qa = solutions_pass_qa(solutions, antennas)
        path = ctx.subdir("caltables") / f"{group_id}.zarr"
        save_solutions(solutions, path, overwrite=True)
        name = cal.alt_name or cal.name
        validity = dt.timedelta(hours=cfg.calibration.validity_hours)
        with session_scope(ctx.session_factory) as session:
            calset = CalibrationRepository(session).add(
                f"{group_id}-{name}",
                calibrator=name,
                reference_time=utc_datetime(times[idx]),
                dec_deg=dec_deg,
                validity=validity,
                qa_passed=passed,
                qa=qa,
            )
            ProductRepository(session).register(
                "caltable",
                path,
                code_version=code_version(),
                parameters=cfg.calibration.model_dump(mode="json"),
                observation_id=observation_id,
                calibration_set_id=calset.id,
                job_id=job_id,
            )
            calset_id = calset.id
        if passed:
            return CalibrationChoice(solutions, calset_id, True, name, cal)
        failed_here = f"; the solutions on {name} in this tile failed QA ({qa})"
    else:
        failed_here = ""
    with session_scope(ctx.session_factory) as session:
        calset = CalibrationRepository(session).find_valid(
            utc_datetime(times[0]),
            utc_datetime(times[-1]),
            dec_deg=dec_deg,
            max_dec_offset_deg=cfg.calibration.max_dec_offset_deg,
        )
        if calset is None:
            raise CalibrationUnavailableError(
                f"tile {group_id} (dec {dec_deg:+.2f} deg, {utc_datetime(times[0]).isoformat()}): "
                "no calibrator transit in this tile and no QA-passed solutions within "
                f"±{cfg.calibration.validity_hours:g} h and ±{cfg.calibration.max_dec_offset_deg:g} deg "
                f"of declination; process a calibrator tile of this strip first{failed_here}"
            )
        products = (
            ProductRepository(session)
            .list(kind="caltable", calibration_set_id=calset.id)
            .items
        )
        if not products:
            raise CalibrationUnavailableError(
                f"calibration set {calset.name}: its solution table is not registered"
            )
        path, calset_id, name = products[0].path, calset.id, calset.calibrator
    return CalibrationChoice(load_solutions(path), calset_id, False, name)


def imaging_threads(config: PipelineConfig) -> int:
    """Threads of the image stage's kernels: ``imaging.threads``, or all of the tile's.

    Under a Dask worker (``dsa110 reprocess``) that is the worker's threads, else
    the machine's CPUs (``os.cpu_count()``).
    """
    if config.imaging.threads:
        return int(config.imaging.threads)
    return dask_worker_threads() or os.cpu_count() or 1


def dask_worker_threads() -> int | None:
    """Threads of the Dask worker running this code, or None outside a Dask task."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError):  # not running in a Dask worker
        return None


def image_tile_products(
    ds,
    config: PipelineConfig,
    prefix: Path,
    *,
    catalog_positions=None,
    calibrator=False,
    outliers=(),
):
    """CLEAN image of the calibrated tile rephased to its median meridian, written as FITS/PNG.

    Parameters
    ----------
    ds : xarray.Dataset
        Calibrated tile.
    config : PipelineConfig
    prefix : Path
        Output prefix (``PREFIX-image.fits`` ...).
    catalog_positions : (ra, dec) arrays in radians, optional
        CLEAN mask centres (known sources).
    calibrator : bool or Calibrator, keyword-only
        The tile holds the calibrator transit it was calibrated on (the
        calibrator itself, or True when unknown). With ``imaging.subtract_calibrator``
        and the calibrator given, its model is subtracted from the visibilities
        and restored into the image (:mod:`dsa110.imaging.subtract`); otherwise
        CLEAN models the bright calibrator's spectrum (``imaging.calibrator_nterms``
        Taylor terms) and runs ``imaging.calibrator_extra_major_cycles`` more
        major cycles.

    Returns
    -------
    ImageProducts, dict of str to Path
    """
    from dsa110.imaging.imager import ImageGeometry
    from dsa110.imaging.fits import write_products
    from dsa110.imaging.modes import image_tile

    im = config.imaging
    geometry = ImageGeometry(im.npix, im.cell_arcsec, im.epsilon, True)
    source = None if isinstance(calibrator, bool) else calibrator
    calibrator_subtracted = source is not None and im.subtract_calibrator
    # CLEAN models the calibrator itself unless it was subtracted
    clean_calibrator = bool(calibrator) and not calibrator_subtracted
    subtract = [*([source] if calibrator_subtracted else []), *outliers] or None
    # The reader's chunks (one file's integrations x one subband) are kept: the
    # Imager rechunks the Stokes I visibilities into as many gridding tasks as
    # threads itself. Rechunking the whole tile into one chunk here made every
    # intermediate (calibrated, rephased, XX/YY) a whole-tile array at once.
    products = image_tile(
        ds,
        center="median_meridian",
        geometry=geometry,
        weighting=im.weighting,
        robust=im.robust,
        niter=im.niter,
        auto_threshold=im.threshold_sigma,
        max_major=im.major_cycles
        + (im.calibrator_extra_major_cycles if clean_calibrator else 0),
        mgain=im.mgain,
        mask_sources=catalog_positions,
        pb_limit=im.pb_limit,
        bda_loss=im.bda_loss,
        nterms=im.calibrator_nterms if clean_calibrator else im.nterms,
        reuse_stacks=im.reuse_stacks,
        nthreads=imaging_threads(config),
        drift_beam=(
            None
            if im.beam_time_chunks == im.beam_freq_chunks == 1
            else (im.beam_time_chunks, im.beam_freq_chunks)
        ),
        subtract=subtract,
        restore_points=im.restore_points,
    )
    files = write_products(products, prefix, png=True, overwrite=True)
    return products, files


def qa_passed(qa) -> bool:
    """Whether an image passes every epoch gate that could be evaluated (None: not evaluated)."""
    return all(bool(v) for v in qa.checks.values() if v is not None)


def catalog_in_field(ctx, ra_deg: float, dec_deg: float, radius_deg: float):
    """Reference-survey sources in a field above the configured flux limit."""
    store = ctx.catalog_store
    survey = ctx.config.photometry.survey
    if survey not in store.surveys():
        return None
    cat = store.cone_search(ra_deg, dec_deg, radius_deg, surveys=[survey])
    return cat[
        cat["flux_int"] >= ctx.config.photometry.min_catalog_flux_jy
    ].reset_index(drop=True)


def outlier_sources(ctx, centre, frequency):
    """Survey sources outside the tile image bright enough through the beam to matter.

    CLEAN models only what lies inside the image; a source beyond its edge
    keeps its sidelobes in it. These are subtracted from the visibilities with
    the survey's flux (:func:`dsa110.imaging.subtract.subtract_sources`): as good
    as the survey's flux and the beam model there, and no worse than leaving
    them when those are within a factor of two.

    Parameters
    ----------
    ctx : PipelineContext
    centre : (float, float)
        The image's centre, ICRS radians: the tile's median meridian
        (:func:`dsa110.phasing.resolve_center`), where the beam points.
    frequency : array-like
        The tile's channel frequencies, Hz.

    Returns
    -------
    list of PointSource
        Beyond the image's pixels, within the main lobe of the beam at the
        lowest frequency, with apparent flux at the band's centre of at least
        ``imaging.outlier_min_apparent_jy``; brightest first.
    """
    from dsa110.imaging.modes import pixels_inside, radec_to_pixel

    im = ctx.config.imaging
    if im.outlier_min_apparent_jy <= 0:
        return []
    ra, dec = (float(c) for c in centre)
    sources = survey_in_beam(ctx, (ra, dec), frequency, im.outlier_min_apparent_jy)
    if not sources:
        return []
    ix, iy = radec_to_pixel(
        np.array([s.ra for s in sources]),
        np.array([s.dec for s in sources]),
        (ra, dec),
        im.cell_arcsec,
        im.npix,
    )
    inside = pixels_inside(ix, iy, im.npix)
    return [s for s, k in zip(sources, inside) if not k]


def clean_mask_centres(ctx, ra_deg: float, dec_deg: float, radius_deg: float):
    """Centres of the tile image's CLEAN mask: catalog sources and VLA calibrators.

    The reference survey may leave out the field's brightest sources (a
    calibrator in a survey's excluded region, or a catalog cut to a flux range):
    a calibrator left outside the mask is never CLEANed, and its sidelobes then
    limit the whole image (measured: 3C48 on its transit tile kept 14.7 Jy in the
    residual, the image noise 2–3× thermal).

    Parameters
    ----------
    ctx : PipelineContext
    ra_deg, dec_deg, radius_deg : float
        The field, degrees.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray) or None
        Radians; None without catalog sources in the field (CLEAN unmasked).
    """
    from dsa110.catalogs import angular_separation, calibrator_list

    cat = catalog_in_field(ctx, ra_deg, dec_deg, radius_deg)
    if cat is None or cat.empty:
        return None
    ra = np.radians(cat["ra"].to_numpy(dtype=np.float64))
    dec = np.radians(cat["dec"].to_numpy(dtype=np.float64))
    cals = calibrator_list()
    cal_ra = np.array([c.ra for c in cals], dtype=np.float64)
    cal_dec = np.array([c.dec for c in cals], dtype=np.float64)
    near = (
        angular_separation(np.degrees(cal_ra), np.degrees(cal_dec), ra_deg, dec_deg)
        <= radius_deg
    )
    return np.concatenate([ra, cal_ra[near]]), np.concatenate([dec, cal_dec[near]])


def measure_image(
    image_path: Path,
    ctx,
    *,
    image_id: str,
    time_mjd: float,
    apparent_path: Path | None = None,
    pb_path: Path | None = None,
):
    """Forced photometry at catalog positions, blind source finding and QA on one image.

    Parameters
    ----------
    image_path : Path
        Primary-beam-corrected FITS image.
    ctx : PipelineContext
    image_id : str
        The image's id in the measurement table.
    time_mjd : float
        The image's epoch.
    apparent_path, pb_path : Path, keyword-only
        The same image before primary-beam correction, and its primary beam:
        with both, the forced photometry fits the apparent image and divides by
        the beam at each source (see :func:`dsa110.photometry.forced_photometry`'s
        ``primary_beam``), unbiased up to the PB limit; blind finding and QA stay
        on the corrected image.

    Returns
    -------
    measurements : pandas.DataFrame
        The variability measurement contract (one row per catalog source measured).
    sources : pandas.DataFrame
        Blind detections.
    qa : QAReport or None
        None when no reference catalog is available.
    """
    import pandas as pd

    from dsa110.photometry import (
        estimate_background,
        find_sources,
        forced_photometry,
        image_qa,
        read_image,
    )
    from dsa110.photometry.image import read_primary_beam

    image = read_image(image_path)
    ny, nx = image.data.shape
    centre = image.wcs.pixel_to_world(nx / 2, ny / 2)
    radius = float(np.hypot(nx, ny) / 2 * abs(image.wcs.wcs.cdelt[0]))
    background = estimate_background(
        image.data, beam_fwhm_pix=image.beam.fwhm_pixels(image.wcs)
    )
    sources = find_sources(
        image,
        seed=ctx.config.photometry.find_seed_sigma,
        flood=ctx.config.photometry.find_flood_sigma,
        background=background,
    )
    catalog = catalog_in_field(ctx, centre.ra.deg, centre.dec.deg, radius)
    if catalog is None or catalog.empty:
        return (
            pd.DataFrame(
                columns=[
                    "source_id",
                    "image_id",
                    "time",
                    "flux",
                    "flux_err",
                    "ra",
                    "dec",
                    "snr",
                ]
            ),
            sources,
            None,
        )
    measured, how = image, dict(background=background)
    if apparent_path is not None and pb_path is not None:
        measured = read_image(apparent_path)
        how = dict(
            primary_beam=read_primary_beam(pb_path, measured.data.shape),
            pb_limit=ctx.config.imaging.pb_limit,
        )
    forced = forced_photometry(
        measured, catalog["ra"].to_numpy(), catalog["dec"].to_numpy(), **how
    )
    qa = image_qa(
        image,
        catalog,
        sources=sources,
        background=background,
        rms_floor=ctx.config.photometry.rms_floor_jy,
    )
    good = (
        forced["inside"].to_numpy()
        & np.isfinite(forced["flux"].to_numpy())
        & (forced["flux_err"].to_numpy() > 0)
    )
    rows = pd.DataFrame(
        {
            "source_id": catalog["name"].astype(str).to_numpy()[good],
            "image_id": image_id,
            "time": time_mjd,
            "flux": forced["flux"].to_numpy()[good],
            "flux_err": forced["flux_err"].to_numpy()[good],
            "ra": catalog["ra"].to_numpy()[good],
            "dec": catalog["dec"].to_numpy()[good],
            "snr": forced["snr"].to_numpy()[good],
            "is_reference": (~catalog["resolved"].to_numpy(dtype=bool))[good]
            & (forced["snr"].to_numpy()[good] > 20),
            "qa_ok": qa_passed(qa),
            "image_ra": centre.ra.deg,
            "image_dec": centre.dec.deg,
        }
    )
    return rows, sources, qa
