"""``dsa110 variability``: incremental metrics, ESE candidates and light curves."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``variability`` command and its subcommands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    parser = subparsers.add_parser(
        "variability",
        help="light curves, variability metrics and ESE candidates",
        description="Normalise forced-photometry measurements, keep running "
        "variability metrics and light curves in a state directory, and list "
        "ESE candidates.",
    )
    parser.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="state directory (default: $DSA110_DATA_DIR/variability, else "
        "~/.local/share/dsa110/variability)",
    )
    sub = parser.add_subparsers(dest="variability_command", metavar="SUBCOMMAND")

    up = sub.add_parser(
        "update",
        help="add measurement tables (Parquet/CSV) to the state",
        description="Normalise the measurements image by image and update the "
        "running metrics; images already in the state are skipped.",
    )
    up.add_argument("measurements", nargs="+", metavar="MEASUREMENTS")
    up.set_defaults(func=_update)

    cand = sub.add_parser("candidates", help="list ESE candidates")
    cand.add_argument(
        "--preset",
        default="moderate",
        choices=["conservative", "moderate", "sensitive"],
        help="thresholds on sigma-deviation/chi2_nu/eta (default: moderate)",
    )
    cand.add_argument("--min-epochs", type=int, default=5)
    cand.add_argument(
        "--ese-only",
        action="store_true",
        help="keep only candidates whose morphology is ESE-like",
    )
    cand.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the table (.parquet or .csv) instead of printing",
    )
    cand.set_defaults(func=_candidates)

    lc = sub.add_parser("lightcurve", help="show, save or plot one light curve")
    lc.add_argument("source", metavar="SOURCE")
    lc.add_argument("--plot", metavar="PNG", help="write a PNG plot")
    lc.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the light curve (.parquet, .csv or .nc)",
    )
    lc.add_argument(
        "--bin-snr",
        type=float,
        metavar="SNR",
        help="print the light curve adaptively binned to this SNR",
    )
    lc.set_defaults(func=_lightcurve)

    mon = sub.add_parser(
        "monitor",
        help="calibrator/reference flux monitoring with drift alerts",
        description="Follow the raw flux of the reference sources (or the "
        "SOURCE ids given) and report epochs whose running-median flux drifts "
        "beyond the threshold.",
    )
    mon.add_argument("sources", nargs="*", metavar="SOURCE")
    mon.add_argument(
        "--threshold",
        type=float,
        default=0.05,
        help="fractional drift that raises an alert (default 0.05)",
    )
    mon.add_argument(
        "--window",
        type=int,
        default=3,
        help="running-median length in epochs (default 3)",
    )
    mon.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the full time series (.parquet or .csv)",
    )
    mon.set_defaults(func=_monitor)

    for p in (cand, lc, mon):
        p.add_argument(
            "--overwrite",
            action="store_true",
            help="replace existing output files (default: refuse before any work)",
        )
    for p in (up, cand, lc, mon):
        # also accept --state after the subcommand
        p.add_argument(
            "--state",
            metavar="DIR",
            default=argparse.SUPPRESS,
            help="state directory (as before the subcommand)",
        )
    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def _store(args):
    # deferred: keep `dsa110 --help` fast
    from dsa110.variability.store import VariabilityStore, default_state_dir

    return VariabilityStore(args.state or default_state_dir())


def _update(args) -> int:
    # deferred: pandas/pyarrow are only needed when a command runs
    from dsa110.variability.measurements import read_measurements

    table = read_measurements(args.measurements)
    store = _store(args)
    summary = store.update(table, source=", ".join(args.measurements))
    print(
        f"added {summary['n_rows']} rows from {summary['n_images']} new image(s) "
        f"({summary['n_skipped']} rows of known images skipped, "
        f"{summary['n_bad_images']} image(s) without a good normalisation); "
        f"{summary['n_sources']} sources in {store.directory}"
    )
    return 0


def _refuse_existing(args, *paths) -> None:
    """Refuse existing outputs before any work, unless ``--overwrite``."""
    if not args.overwrite:
        from dsa110.io.atomic import refuse_existing

        refuse_existing([p for p in paths if p])


def _write_table(frame, path) -> None:
    import os
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".csv":
        frame.to_csv(tmp)
    else:
        frame.to_parquet(tmp)
    os.replace(tmp, path)


def _candidates(args) -> int:
    import pandas as pd

    _refuse_existing(args, args.output)
    cand = _store(args).candidates(preset=args.preset, min_epochs=args.min_epochs)
    if args.ese_only and "is_ese" in cand:
        cand = cand[cand["is_ese"].astype(bool)]
    if args.output:
        _write_table(cand, args.output)
        print(f"{len(cand)} candidate(s) written to {args.output}")
        return 0
    cols = [
        c
        for c in (
            "n",
            "sigma_dev",
            "chi2_nu",
            "eta",
            "score",
            "label",
            "has_shoulders",
            "selected_by",
        )
        if c in cand
    ]
    with pd.option_context("display.max_rows", 200, "display.width", 120):
        print(cand[cols].to_string() if len(cand) else "no candidates")
    return 0


def _monitor(args) -> int:
    _refuse_existing(args, args.output)
    ids = [_source_id(s) for s in args.sources] or None
    series, alerts = _store(args).monitor(
        ids, threshold=args.threshold, window=args.window
    )
    if args.output:
        _write_table(series, args.output)
    n_src = series["source_id"].nunique() if len(series) else 0
    print(f"{n_src} source(s) monitored, {len(alerts)} alert(s)")
    if len(alerts):
        cols = ["source_id", "image_id", "time", "flux", "ratio", "drift"]
        print(alerts[cols].to_string(index=False))
    return 0


def _source_id(text):
    try:
        return int(text)
    except ValueError:
        return text


def _lightcurve(args) -> int:
    import os
    from pathlib import Path

    from dsa110.variability.lightcurves import plot_lightcurve

    _refuse_existing(args, args.plot, args.output)
    ds = _store(args).lightcurve(_source_id(args.source))
    if args.plot:
        plot_lightcurve(ds, args.plot)
        print(f"plot written to {args.plot}")
    if args.output:
        path = Path(args.output)
        if path.suffix.lower() == ".nc":
            tmp = path.with_name(f".{path.name}.tmp")
            ds.to_netcdf(tmp)
            os.replace(tmp, path)
        else:
            _write_table(ds.to_dataframe(), path)
        print(f"light curve written to {args.output}")
    if args.bin_snr:
        from dsa110.variability.binning import adaptive_bin

        good = ~ds["flagged"].to_numpy()
        bins = adaptive_bin(
            ds["time"].to_numpy()[good],
            ds["flux_norm"].to_numpy()[good],
            ds["flux_norm_err"].to_numpy()[good],
            target_snr=args.bin_snr,
        )
        sys.stdout.write(bins.to_string(index=False) + "\n")
        return 0
    if not (args.plot or args.output):
        cols = ["flux", "flux_err", "flux_norm", "flux_norm_err", "image_id", "flagged"]
        sys.stdout.write(ds[cols].to_dataframe().to_string() + "\n")
    return 0
