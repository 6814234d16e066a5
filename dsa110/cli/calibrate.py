"""``dsa110 calibrate``: solve bandpass and gains on a calibrator tile; apply them."""

from __future__ import annotations

import argparse

__all__ = ["register"]

#: Suffixes of a solution table (zarr, netCDF) that ``--out`` accepts.
SOLUTION_SUFFIXES = (".zarr", ".nc")


def _solint(text: str):
    """``--solint``: ``inf``, ``int``, or positive seconds (``60`` or ``60s``)."""
    if text in ("inf", "int"):
        return text
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected inf, int, or positive seconds (60 or 60s)"
        )
    return seconds


def _bounded(kind, low, what):
    """Return an argparse type: ``kind(text)``, refused below ``low``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value >= low:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {what}")
        return value

    return parse


def register(subparsers) -> None:
    """Add the ``calibrate`` subcommand with its ``solve`` and ``apply`` actions."""
    p = subparsers.add_parser(
        "calibrate",
        help="solve for and apply bandpass/gain calibration",
        description="Solve bandpass and gains on a calibrator transit; apply them.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    q = sub.add_parser(
        "solve", help="find the calibrator transit, rephase to it, solve"
    )
    q.add_argument(
        "input", help="observation: a group directory, UVH5 file(s) or zarr store"
    )
    q.add_argument("--out", required=True, help="solution table (.zarr or .nc)")
    q.add_argument(
        "--calibrator",
        default=None,
        help="calibrator name (default: the best for the pointing declination)",
    )
    q.add_argument(
        "--solint",
        type=_solint,
        default="inf",
        help="gain interval: inf, int or seconds",
    )
    q.add_argument("--mode", default="ap", choices=("ap", "p"), help="gain mode")
    q.add_argument("--refant", default="103", help="reference antenna name, or 'auto'")
    q.add_argument("--min-snr", type=_bounded(float, 0, "a number >= 0"), default=5.0)
    q.add_argument(
        "--min-baselines", type=_bounded(int, 0, "an integer >= 0"), default=4
    )
    q.add_argument("--uvmin", type=float, default=1000.0, help="uv cut, wavelengths")
    q.add_argument(
        "--uv-frequency",
        default="channel",
        choices=("channel", "merged", "subband"),
        help="frequency of the uv cut's wavelengths: each channel's own (default), "
        "or CASA's one per spectral window (merged band / per subband)",
    )
    q.add_argument(
        "--fill-gaps",
        type=_bounded(int, 0, "an integer >= 0"),
        default=0,
        help="interpolate gaps up to N channels",
    )
    q.add_argument(
        "--no-solnorm", action="store_true", help="do not normalise the bandpass"
    )
    q.add_argument(
        "--window",
        type=_bounded(int, 1, "an integer >= 1"),
        default=None,
        help="use only the N integrations centred on the transit",
    )
    q.add_argument(
        "--casa", default=None, help="also export CASA tables PREFIX.B and PREFIX.G"
    )
    q.add_argument("--plots", default=None, help="directory for diagnostic PNGs")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_solve)

    q = sub.add_parser("apply", help="apply a solution table to an observation")
    q.add_argument(
        "input", help="observation: a group directory, UVH5 file(s) or zarr store"
    )
    q.add_argument("solutions", help="solution table (.zarr or .nc)")
    q.add_argument(
        "output", help="calibrated output: Measurement Set (.ms) or zarr (.zarr)"
    )
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_apply)


def _open(path):
    from pathlib import Path

    if str(path).endswith(".zarr") and Path(path).is_dir():
        from dsa110.io.zarr_store import open_zarr  # deferred: heavy I/O stack

        return open_zarr(path)
    from dsa110.io import open_observation  # deferred: heavy I/O stack

    return open_observation(path)


def select_transit(ds, calibrator, *, window=None):
    """Check that ``ds`` holds the calibrator's transit; optionally keep a window.

    Parameters
    ----------
    ds : xarray.Dataset
        Visibility dataset.
    calibrator : Calibrator
        The calibrator.
    window : int, optional
        Keep only this many integrations centred on the transit.

    Returns
    -------
    xarray.Dataset, int
        The (possibly narrowed) dataset and the transit integration index in
        the original dataset.

    Raises
    ------
    CalibrationError
        When the transit is not inside the tile.
    """
    import numpy as np

    from dsa110.calibration import CalibrationError
    from dsa110.catalogs.calibrators import find_transit

    times = np.asarray(ds["time"].values)
    hit = find_transit(calibrator, times)
    if hit is None:
        raise CalibrationError(
            f"the transit of {calibrator.alt_name or calibrator.name} is not inside "
            "this tile; pick the tile that holds it "
            "(dsa110.catalogs.calibrators.find_transit_tile)"
        )
    idx = hit[0]
    if window is not None:
        lo = max(0, idx - window // 2)
        ds = ds.isel(time=slice(lo, min(times.size, lo + window)))
    return ds, idx


def _solve_outputs(args):
    """Every path ``calibrate solve`` writes: the table, CASA tables, plots."""
    from pathlib import Path

    paths = [Path(args.out)]
    if args.casa:
        paths += [Path(f"{args.casa}.{kind}") for kind in ("B", "G")]
    if args.plots:
        paths += [Path(args.plots) / name for name in ("bandpass.png", "gains.png")]
    return paths


def _check_solve_outputs(args) -> None:
    """Refuse a bad ``--out`` suffix or existing outputs before any work.

    Raises
    ------
    ConfigurationError
        When ``--out`` is not ``*.zarr`` or ``*.nc``.
    OutputExistsError
        When an output exists and ``--overwrite`` is not given.
    """
    from pathlib import Path

    from dsa110.errors import ConfigurationError, OutputExistsError

    if Path(args.out).suffix not in SOLUTION_SUFFIXES:
        raise ConfigurationError(
            f"--out {args.out}: use a {' or '.join(SOLUTION_SUFFIXES)} suffix"
        )
    existing = [str(p) for p in _solve_outputs(args) if p.exists()]
    if existing and not args.overwrite:
        raise OutputExistsError(f"{', '.join(existing)} exist(s) (use --overwrite)")


def _solve(args) -> int:
    from pathlib import Path

    import numpy as np

    from dsa110.calibration import (
        export_casa_table,
        plot_bandpass,
        plot_gains,
        save_solutions,
        solve_calibration,
    )
    from dsa110.catalogs.calibrators import best_calibrator, get_calibrator
    from dsa110.phasing import rephase

    _check_solve_outputs(args)
    ds = _open(args.input)
    if args.calibrator:
        cal = get_calibrator(args.calibrator)
    else:
        cal = best_calibrator(float(ds.attrs["pointing_dec"]))
    ds, idx = select_transit(ds, cal, window=args.window)
    ds = rephase(ds, (cal.ra, cal.dec))
    sol = solve_calibration(
        ds,
        cal,
        solint=args.solint,
        gain_mode=args.mode,
        refant=args.refant,
        min_snr=args.min_snr,
        min_baselines=args.min_baselines,
        uvmin_lambda=args.uvmin,
        uv_frequency=args.uv_frequency,
        fill_gaps=args.fill_gaps,
        solnorm=not args.no_solnorm,
    )
    save_solutions(sol, args.out, overwrite=args.overwrite)
    if args.casa:
        for kind in ("B", "G"):
            export_casa_table(
                sol, f"{args.casa}.{kind}", kind=kind, overwrite=args.overwrite
            )
    if args.plots:
        out = Path(args.plots)
        out.mkdir(parents=True, exist_ok=True)
        plot_bandpass(sol, out / "bandpass.png")
        plot_gains(sol, out / "gains.png")
    present = np.union1d(ds["antenna1"].values, ds["antenna2"].values)
    solved = int(np.sum(sol["QA_FLAG_FRACTION"].values[present] < 1.0))
    print(
        f"calibrator {cal.alt_name or cal.name} transit at integration {idx}; "
        f"refant {sol.attrs['refant']}; {solved} of the {present.size} antennas "
        f"in the data solved; wrote {args.out}"
    )
    return 0


def _apply(args) -> int:
    from pathlib import Path

    from dsa110.calibration import apply_calibration, load_solutions
    from dsa110.errors import ConfigurationError

    ds = _open(args.input)
    sol = load_solutions(args.solutions)
    cal = apply_calibration(ds, sol)
    out = Path(args.output)
    if out.suffix == ".ms":
        from dsa110.io.ms import write_ms  # deferred: casacore stack

        write_ms(cal, out, overwrite=args.overwrite)
    elif out.suffix == ".zarr":
        from dsa110.io.zarr_store import write_zarr  # deferred: zarr stack

        write_zarr(cal, out, overwrite=args.overwrite)
    else:
        raise ConfigurationError(f"output {out}: use a .ms or .zarr suffix")
    print(f"wrote {out}")
    return 0
