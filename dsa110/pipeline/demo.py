"""``dsa110 demo``: simulate a small night (several days) and run the whole pipeline.

The demo simulates, for each of ``n_days`` days at one declination strip, the
tile holding a calibrator's meridian transit (3C48 at +33°) and a target tile
half an hour later, whose sky is a synthetic NVSS-like catalog (also ingested
into the catalog store as the reference survey) plus a few variable sources and
one source with an Extreme-Scattering-Event-like light curve (a dip with
caustic shoulders). It then runs the pipeline with SQLite and prints a summary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DemoSky",
    "simulate_demo_night",
    "run_demo",
    "ese_light_curve",
    "calibrator_sky",
]

#: Seconds in a sidereal day.
SIDEREAL_DAY_S = 86164.0905


def ese_light_curve(
    n_days: int,
    *,
    start: int | None = None,
    depth: float = 0.5,
    width: int = 3,
    shoulder: float = 0.25,
) -> np.ndarray:
    """Relative flux of an ESE-like event: caustic shoulders around a dip.

    Parameters
    ----------
    n_days : int
        Epochs.
    start : int, optional
        First epoch of the dip (default: a third of the way in).
    depth : float
        Fractional flux lost at the bottom of the dip.
    width : int
        Epochs at the bottom.
    shoulder : float
        Fractional brightening on the epoch before and after the dip.

    Returns
    -------
    numpy.ndarray
        ``(n_days,)`` float64 multipliers of the quiescent flux.
    """
    curve = np.ones(n_days)
    start = n_days // 3 if start is None else start
    curve[start : start + width] = 1.0 - depth
    if start - 1 >= 0:
        curve[start - 1] = 1.0 + shoulder
    if start + width < n_days:
        curve[start + width] = 1.0 + shoulder
    return curve


@dataclass
class DemoSky:
    """The demo's sky and its truth.

    Attributes
    ----------
    catalog : pandas.DataFrame
        The reference survey (canonical catalog columns).
    ese_name : str
        Catalog name of the ESE-like source.
    variable_names : list of str
        Catalog names of the other variable sources.
    fluxes : dict of str to numpy.ndarray
        Per-day flux (Jy) of every catalog source.
    files : list of Path
        Every simulated file.
    """

    catalog: object
    ese_name: str
    variable_names: list
    fluxes: dict
    files: list = field(default_factory=list)


def calibrator_sky(cal):
    """A calibrator as a simulator point source: a power law matching its
    Perley–Butler spectrum at the band edges (1.31 and 1.50 GHz).

    Parameters
    ----------
    cal : Calibrator

    Returns
    -------
    dsa110.simulate.SkyModel
    """
    from dsa110.simulate import point_source

    f = np.array([1.31e9, 1.50e9])
    s = cal.flux_density(f)
    alpha = float(np.log(s[1] / s[0]) / np.log(f[1] / f[0]))
    return point_source(
        np.degrees(cal.ra), np.degrees(cal.dec), float(cal.flux_density(1.4e9)), alpha
    )


def simulate_demo_night(
    outdir,
    *,
    n_days: int = 12,
    dec_deg: float = 33.0,
    seed: int = 1,
    start="2026-11-24T00:00:00",
    target_offset_min: float = 30.0,
    n_catalog: int = 25,
    min_flux_jy: float = 0.05,
) -> DemoSky:
    """Simulate the demo's tiles (small preset) and build its reference catalog.

    Parameters
    ----------
    outdir : path-like
        Where the UVH5 files go.
    n_days : int, keyword-only
        Days (epochs).
    dec_deg : float, keyword-only
        Pointing declination.
    seed : int, keyword-only
    start : str, keyword-only
        The first day's calibrator transit is the first after this time.
    target_offset_min : float, keyword-only
        Minutes after the calibrator transit at which the target tile starts.
    n_catalog : int, keyword-only
        Catalog sources in the target field.
    min_flux_jy : float, keyword-only
        Their minimum flux density.

    Returns
    -------
    DemoSky
    """
    import pandas as pd
    from astropy import units as u
    from astropy.time import Time

    from dsa110.catalogs import best_calibrator, synthetic_nvss, transit_times
    from dsa110.phasing import meridian_centers
    from dsa110.simulate import SimulationConfig, SkyModel, simulate_observation
    from dsa110.telescope import default_site

    rng = np.random.default_rng(seed)
    outdir = Path(outdir)
    cal = best_calibrator(np.radians(dec_deg), min_flux_jy=1.0)
    t0 = Time(start)
    first = Time(transit_times(cal, t0, t0 + 1.1 * u.day)[0])
    config = SimulationConfig.preset("small")
    n_int = config.n_times
    tile_s = config.tile_duration_s
    # The target field: the meridian at the pointing dec at the target tile's middle.
    target_mid = first.unix + target_offset_min * 60 + tile_s / 2
    ra_t, dec_t = meridian_centers(
        np.array([target_mid]), np.radians(dec_deg), default_site()
    )
    ra_deg, dec_c = float(np.degrees(ra_t[0])), float(np.degrees(dec_t[0]))
    catalog = synthetic_nvss(
        ra=ra_deg,
        dec=dec_c,
        radius=0.9,
        smin=min_flux_jy,
        smax=2.0,
        n=n_catalog,
        rng=rng,
    )
    catalog = catalog.reset_index(drop=True)
    # The ESE-like source: bright and compact, near the field centre.
    ese = catalog.iloc[[0]].copy()
    ese["name"], ese["ra"], ese["dec"] = (
        "ESE-DEMO",
        ra_deg + 0.15 / np.cos(np.radians(dec_c)),
        dec_c + 0.1,
    )
    ese["flux_int"] = 0.6
    catalog = pd.concat([ese, catalog], ignore_index=True)
    names = catalog["name"].astype(str).tolist()
    fluxes = {
        name: np.full(n_days, float(f)) for name, f in zip(names, catalog["flux_int"])
    }
    fluxes["ESE-DEMO"] = 0.6 * ese_light_curve(n_days)
    variable = names[1:3]
    for name in variable:  # refractive-scintillation-like ±20 % random wander
        fluxes[name] = fluxes[name] * (1 + 0.2 * rng.standard_normal(n_days)).clip(0.3)
    cal_sky = calibrator_sky(cal)
    # One seed per day: the calibrator and target tiles of a day share the
    # instrument's gains (the simulator draws them from the seed), as the real
    # array's gains are stable over the half hour between them; each day differs.
    files = []
    for day in range(n_days):
        t_transit = first.unix + day * SIDEREAL_DAY_S
        cal_start = t_transit - (n_int / 2) * 12.884901888
        tiles = simulate_observation(
            outdir,
            preset="small",
            seed=seed * 1000 + day,
            start=Time(cal_start, format="unix").isot,
            dec_deg=dec_deg,
            sources=cal_sky,
            population=False,
        )
        target_sky = SkyModel.from_degrees(
            catalog["ra"].to_numpy(),
            catalog["dec"].to_numpy(),
            np.array([fluxes[n][day] for n in names]),
        )
        tiles += simulate_observation(
            outdir,
            preset="small",
            seed=seed * 1000 + day,
            start=Time(t_transit + target_offset_min * 60, format="unix").isot,
            dec_deg=dec_deg,
            sources=target_sky,
            population=False,
        )
        for tile in tiles:
            files.extend(tile.files)
    return DemoSky(catalog, "ESE-DEMO", variable, fluxes, files)


#: The simulation's parameters, beside its files.
DEMO_RECORD = "demo-simulation.json"


def _write_record(path: Path, params: dict) -> None:
    """Write the simulation's parameters (to a temporary name, renamed into place)."""
    import json
    import os

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(params))
    os.replace(tmp, path)


def _say_ignored(raw: Path, asked: dict, out) -> None:
    """Say which of the asked simulation parameters the files in ``raw`` differ from."""
    import json

    record = raw / DEMO_RECORD
    made = json.loads(record.read_text()) if record.exists() else {}
    ignored = {k: v for k, v in asked.items() if v is not None and made.get(k) != v}
    if ignored:
        have = ", ".join(f"{k}={v}" for k, v in made.items()) or "unrecorded"
        out(
            f"ignored: {', '.join(f'{k}={v}' for k, v in ignored.items())} (the "
            f"files there were simulated with {have}; delete {raw} or use another "
            "workdir to simulate again)"
        )


def run_demo(
    workdir="dsa110-demo",
    *,
    n_days: int | None = None,
    seed: int | None = None,
    overrides=(),
    out=print,
):
    """Simulate the demo night and run the pipeline on it; print a summary.

    Files already simulated in ``workdir`` are used again, whatever ``n_days``
    and ``seed``: a line says which of them were ignored.

    Parameters
    ----------
    workdir : path-like
        Holds ``raw/`` (simulated files) and ``data/`` (database and products).
    n_days : int, optional, keyword-only
        At least 1 (default 12).
    seed : int, optional, keyword-only
        Default 1.
    overrides : iterable of str, keyword-only
        Configuration overrides (``section.key=value``).
    out : callable, keyword-only
        Where the summary lines go.

    Returns
    -------
    dict
        Summary figures.
    """
    from dsa110.pipeline.batch import run_batch
    from dsa110.pipeline.config import apply_overrides, load_config, set_values
    from dsa110.pipeline.context import PipelineContext

    if n_days is not None and (int(n_days) != n_days or n_days < 1):
        from dsa110.errors import ConfigurationError

        raise ConfigurationError(f"n_days={n_days!r}: expected at least one day")
    asked = {"n_days": n_days, "seed": seed}
    workdir = Path(workdir)
    raw = workdir / "raw"
    t0 = time.perf_counter()
    catalog_file = raw / "reference_catalog.parquet"
    if catalog_file.exists() and any(raw.glob("*_sb??.hdf5")):
        import pandas as pd

        out(f"using the simulated files already in {raw}")
        _say_ignored(raw, asked, out)
        catalog = pd.read_parquet(catalog_file)
    else:
        made = {"n_days": n_days or 12, "seed": 1 if seed is None else seed}
        out(
            f"simulating {made['n_days']} days (a calibrator tile and a target "
            f"tile each) into {raw} ..."
        )
        catalog = simulate_demo_night(raw, **made).catalog
        catalog.to_parquet(catalog_file)
        _write_record(raw / DEMO_RECORD, made)
    defaults = [
        "imaging.npix=1024",
        "imaging.cell_arcsec=6.0",
        "imaging.niter=300",
        "imaging.major_cycles=2",
        "variability.preset=moderate",
        "variability.min_epochs=5",
        # sigma-deviation (max|f - mean| / the light curve's own std) cannot
        # select a multi-epoch event in a short light curve: an event lasting k
        # of N epochs reaches at most sqrt((N - k) / k) (1.7 for the demo's
        # 3-epoch dip in 12 epochs, the noise alone 1.4-2.5 here), one epoch at
        # most (N - 1) / sqrt(N) = 3.2, below every preset's threshold (>= 2.5,
        # set for months of daily epochs). The demo leaves it out and keeps the
        # preset's chi2_nu and eta thresholds and the morphology test (a dip
        # or brightening lasting >= 3 epochs), which candidates must pass too.
        "variability.sigma_dev=0",
    ]
    demo = set_values(
        load_config(overrides=defaults), {"runtime.data_dir": workdir / "data"}
    )
    config = apply_overrides(demo, overrides)
    ctx = PipelineContext(config)
    if "nvss" not in ctx.catalog_store.surveys():
        ctx.catalog_store.add(catalog, "nvss")
    t_sim = time.perf_counter() - t0
    import warnings

    from astropy.wcs import FITSFixedWarning

    with warnings.catch_warnings():
        # Every FITS read notes that OBSGEO-L/B/H were derived from OBSGEO-X/Y/Z.
        warnings.simplefilter("ignore", FITSFixedWarning)
        results = run_batch(raw, config, out=out)
    summary = summarize_run(ctx, results)
    summary["simulate_seconds"] = t_sim
    summary["total_seconds"] = time.perf_counter() - t0
    out("")
    out(
        f"tiles processed   : {summary['processed']} (failed {summary['failed']}, skipped {summary['skipped']})"
    )
    out(f"calibrations      : {summary['calibrations']}")
    out(f"images            : {summary['images']}")
    out(
        f"mosaics           : {summary['mosaics']}"
        + (
            ""
            if summary["mosaics"]
            else " (each day's calibrator and target tiles are 30 min apart, not "
            f"consecutive: a mosaic needs >= 2 consecutive tiles, "
            f"imaging.mosaic_tiles={config.imaging.mosaic_tiles})"
        )
    )
    out(
        f"sources measured  : {summary['sources']} ({summary['measurements']} measurements)"
    )
    out(
        f"ESE candidates    : {', '.join(summary['candidates']) or 'none'} "
        f"(preset {config.variability.preset}: {_thresholds_text(config)}, "
        "and an ESE-like light curve)"
    )
    out(
        f"ESE-like dips     : {', '.join(summary.get('ese_morphology', [])) or 'none'} "
        "(morphology test: a dip with shoulders lasting several epochs)"
    )
    for name, chi2, sdev in summary.get("most_variable", []):
        out(
            f"  most variable   : {name:12s} chi2_nu {chi2:8.1f}  sigma_dev {sdev:5.2f}"
        )
    if summary.get("lightcurve_png"):
        out(f"light curve       : {summary['lightcurve_png']}")
    out(f"database          : {ctx.database_url}")
    out(
        f"time              : {summary['total_seconds']:.0f} s (simulation {t_sim:.0f} s)"
    )
    return summary


def _thresholds_text(config) -> str:
    t = config.variability.thresholds()
    parts = [f"chi2_nu >= {t.chi2_nu:g}", f"eta >= {t.eta:g}"]
    if t.sigma_dev > 0:
        parts.insert(0, f"sigma_dev >= {t.sigma_dev:g}")
    return ", ".join(parts)


def summarize_run(ctx, results) -> dict:
    """Counts from the database after a run, and the light curve of the top candidate."""
    from sqlalchemy import func, select

    from dsa110.db import session_scope
    from dsa110.db.models import CalibrationSet, Candidate, Image, Measurement, Source

    with session_scope(ctx.session_factory) as session:
        counts = {
            "calibrations": session.scalar(
                select(func.count()).select_from(CalibrationSet)
            ),
            "images": session.scalar(
                select(func.count()).select_from(Image).where(Image.kind == "tile")
            ),
            "mosaics": session.scalar(
                select(func.count()).select_from(Image).where(Image.kind == "mosaic")
            ),
            "sources": session.scalar(select(func.count()).select_from(Source)),
            "measurements": session.scalar(
                select(func.count()).select_from(Measurement)
            ),
        }
        names = [
            s.name
            for s in session.scalars(
                select(Source)
                .join(Candidate, Candidate.source_id == Source.id)
                .order_by(Candidate.score.desc())
            )
        ]
    counts.update(
        processed=sum(r.status == "processed" for r in results),
        failed=sum(r.status == "failed" for r in results),
        skipped=sum(r.status == "skipped" for r in results),
        candidates=names,
    )
    store = ctx.variability_store
    metrics = store.metrics()
    if not metrics.empty:
        top = metrics.sort_values("chi2_nu", ascending=False).head(5)
        counts["most_variable"] = [
            (str(name), float(row["chi2_nu"]), float(row["sigma_dev"]))
            for name, row in top.iterrows()
        ]
        import pandas as pd

        from dsa110.variability import classify_table, plot_lightcurve

        parts = []
        for sid in metrics.index:
            lc = store.lightcurve(sid)
            part = lc[["flux_norm", "flux_norm_err"]].to_dataframe().reset_index()
            part["source_id"] = sid
            parts.append(part[~lc["flagged"].values])
        morph = classify_table(pd.concat(parts, ignore_index=True))
        counts["ese_morphology"] = [
            str(s) for s in morph.index[morph["is_ese"].to_numpy(dtype=bool)]
        ]
        target = (
            names[0] if names else (counts["ese_morphology"] or [str(top.index[0])])[0]
        )
        path = ctx.subdir("plots") / f"lightcurve-{target}.png"
        plot_lightcurve(store.lightcurve(target), path)
        counts["lightcurve_png"] = str(path)
    return counts
