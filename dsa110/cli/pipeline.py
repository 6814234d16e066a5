"""Pipeline commands: ``run`` (one tile), ``reprocess`` (a time range on Dask),
``watch`` (as files arrive) and ``demo`` (simulate and run everything)."""

from __future__ import annotations

__all__ = ["register", "EXIT_LOCKED"]

#: ``dsa110 run``'s exit status when another run holds the tile (sysexits'
#: EX_TEMPFAIL: not processed by this run, try again later).
EXIT_LOCKED = 75


def _set_arg(p) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a configuration value (repeatable)",
    )


def _config_args(p) -> None:
    p.add_argument("--config", help="configuration file (TOML or YAML)")
    _set_arg(p)
    p.add_argument(
        "--data-dir",
        help="data directory (database, products); default $DSA110_DATA_DIR or ~/dsa110-data",
    )
    p.add_argument("--db", help="database URL (default: SQLite in the data directory)")
    p.add_argument(
        "--force", action="store_true", help="reprocess tiles already processed"
    )


def _load(args, extra=()):
    # Deferred: pydantic and the pipeline load only when a command runs.
    from dsa110.pipeline.config import load_config, set_values

    config = load_config(args.config, overrides=list(extra) + list(args.overrides))
    # The options' values as given, not parsed as TOML (a --data-dir named
    # 2026-11-24 is a path, not a date); they win over --set.
    options = {
        "runtime.data_dir": getattr(args, "data_dir", None),
        "runtime.database_url": getattr(args, "db", None),
        "runtime.force": getattr(args, "force", False) or None,
    }
    given = {key: value for key, value in options.items() if value is not None}
    return set_values(config, given, source="options") if given else config


def register(subparsers) -> None:
    """Add the ``run``, ``reprocess``, ``watch`` and ``demo`` subcommands."""
    p = subparsers.add_parser(
        "run",
        help="process one tile end to end",
        description="Open, flag, calibrate, image and measure one group; record it in the database.",
        epilog="Exit status: 0 processed or skipped (done before), 1 failed, "
        f"{EXIT_LOCKED} another run holds the tile's lock (not processed by this "
        "one: try again later).",
    )
    p.add_argument(
        "input", nargs="+", help="a group directory, or the group's subband files"
    )
    _config_args(p)
    p.set_defaults(func=_run)

    p = subparsers.add_parser(
        "reprocess", help="process every tile in a time range on a Dask cluster"
    )
    p.add_argument("indir", help="directory of subband files")
    p.add_argument("--start", help="first group start (ISO UTC)")
    p.add_argument("--end", help="last group start (ISO UTC)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.add_argument("--workers", type=int, help="local cluster worker processes")
    _config_args(p)
    p.set_defaults(func=_reprocess)

    p = subparsers.add_parser("watch", help="process each group as its files arrive")
    p.add_argument("indir", help="directory the correlator writes into")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between scans")
    p.add_argument(
        "--settle", type=float, default=5.0, help="seconds a file must be unchanged"
    )
    p.add_argument(
        "--max-polls", type=int, default=None, help="stop after this many scans"
    )
    _config_args(p)
    p.set_defaults(func=_watch)

    p = subparsers.add_parser(
        "demo",
        help="simulate a small multi-day observation and run the whole pipeline",
        description="Simulates a calibrator tile and a target tile per day (with variable "
        "sources and an ESE-like source), runs the pipeline with SQLite and prints a summary.",
    )
    p.add_argument(
        "workdir",
        nargs="?",
        default="dsa110-demo",
        help="working directory (default: ./dsa110-demo)",
    )
    p.add_argument(
        "--days",
        type=int,
        help="days to simulate (default 12; files already in WORKDIR are used again)",
    )
    p.add_argument("--seed", type=int, help="simulation seed (default 1)")
    _set_arg(p)
    p.set_defaults(func=_demo)


def _run(args) -> int:
    from dsa110.pipeline.tile import process_tile

    config = _load(args)
    target = args.input[0] if len(args.input) == 1 else args.input
    result = process_tile(target, config)
    print(
        f"{result.group_id}: {result.status} in {result.seconds:.1f} s"
        + (f" — {result.error}" if result.error else "")
        + (
            f"; image {result.image}; {result.n_measurements} sources measured"
            if result.image
            else ""
        )
    )
    for stage, sec in result.timings.items():
        print(f"  {stage:12s} {sec:7.2f} s")
    if result.status == "locked":
        return EXIT_LOCKED
    return 1 if result.status == "failed" else 0


def _reprocess(args) -> int:
    from dsa110.pipeline.batch import run_batch

    extra = []
    if args.scheduler:
        extra.append(f"runtime.scheduler={args.scheduler}")
    if args.workers:
        extra.append(f"runtime.workers={args.workers}")
    config = _load(args, extra)
    use_dask = True if (args.scheduler or args.workers) else None
    results = run_batch(
        args.indir, config, start=args.start, end=args.end, use_dask=use_dask
    )
    for r in results:
        print(
            f"  {r.group_id}: {r.status}"
            + (f" ({r.error})" if r.error else f" {r.seconds:.1f} s")
        )
    return 1 if any(r.status == "failed" for r in results) else 0


def _watch(args) -> int:
    from dsa110.pipeline.watch import watch

    watch(
        args.indir,
        _load(args),
        poll_s=args.poll,
        settle_s=args.settle,
        max_polls=args.max_polls,
    )
    return 0


def _demo(args) -> int:
    from dsa110.pipeline.demo import run_demo

    summary = run_demo(
        args.workdir, n_days=args.days, seed=args.seed, overrides=args.overrides
    )
    return 0 if summary["failed"] == 0 else 1
