"""``dsa110 catalog``: ingest survey catalogs, cone-search the store, crossmatch."""

from __future__ import annotations

__all__ = ["register"]

_STORE_HELP = "catalog store directory (default: $DSA110_CATALOG_STORE or ./catalogs)"


def _store_arg(p):
    p.add_argument("--store", default=None, help=_STORE_HELP)


def register(subparsers) -> None:
    """Add the ``catalog`` subcommand and its actions."""
    p = subparsers.add_parser(
        "catalog",
        help="survey catalogs: ingest, cone search, crossmatch",
        description="Manage the local catalog store.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    q = sub.add_parser(
        "ingest", help="read a survey's published catalog file into the store"
    )
    q.add_argument("file", help="FITS, VOTable, CSV/TSV or Parquet file")
    q.add_argument(
        "--survey",
        required=True,
        choices=("nvss", "first", "vlass", "racs"),
        help="the file's survey (its column names and units)",
    )
    q.add_argument("--name", default=None, help="store name (default: the survey)")
    q.add_argument(
        "--overwrite", action="store_true", help="replace the survey in the store"
    )
    _store_arg(q)
    q.set_defaults(func=_ingest)

    q = sub.add_parser(
        "query", help="cone search: sources within RADIUS degrees of RA DEC"
    )
    q.add_argument("ra", type=float, help="degrees")
    q.add_argument("dec", type=float, help="degrees")
    q.add_argument("radius", type=float, help="degrees")
    q.add_argument(
        "--survey", action="append", default=None, help="limit to survey (repeatable)"
    )
    q.add_argument(
        "--output", "-o", default=None, help="write a table (.csv/.fits/.parquet)"
    )
    q.add_argument("--overwrite", action="store_true")
    _store_arg(q)
    q.set_defaults(func=_query)

    q = sub.add_parser(
        "master", help="crossmatch the stored surveys into a master catalog"
    )
    q.add_argument("output", help="output table (.parquet/.csv/.fits)")
    q.add_argument(
        "--radius", type=float, default=7.5, help="match radius, arcsec (default 7.5)"
    )
    q.add_argument("--overwrite", action="store_true")
    _store_arg(q)
    q.set_defaults(func=_master)

    q = sub.add_parser(
        "synth", help="write a synthetic NVSS-like catalog in NVSS's VizieR format"
    )
    q.add_argument("output", help="output file (.csv or .fits)")
    q.add_argument("--ra", type=float, default=None, help="cone centre RA, degrees")
    q.add_argument("--dec", type=float, default=None, help="cone centre Dec, degrees")
    q.add_argument(
        "--radius",
        type=float,
        default=None,
        help="cone radius, degrees (default: whole NVSS sky)",
    )
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_synth)


def _store(args):
    import os

    from dsa110.catalogs.store import CatalogStore

    return CatalogStore(
        args.store or os.environ.get("DSA110_CATALOG_STORE", "catalogs")
    )


def _ingest(args) -> int:
    store = _store(args)
    dest = store.ingest(
        args.file, args.survey, overwrite=args.overwrite, name=args.name
    )
    print(f"{store.meta(dest.name)['n_sources']} sources from {args.file} -> {dest}")
    return 0


def _query(args) -> int:
    from dsa110.photometry.regions import write_table

    res = _store(args).cone_search(args.ra, args.dec, args.radius, surveys=args.survey)
    if args.output:
        write_table(res, args.output, overwrite=args.overwrite)
        print(f"{len(res)} sources -> {args.output}")
    else:
        cols = ["survey", "name", "ra", "dec", "flux_int", "flux_int_err", "separation"]
        print(res[cols].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0


def _master(args) -> int:
    from dsa110.catalogs.crossmatch import build_master
    from dsa110.photometry.regions import write_table

    store = _store(args)
    tables = {s: store.read(s) for s in store.surveys()}
    master = build_master(tables, radius_arcsec=args.radius)
    write_table(master, args.output, overwrite=args.overwrite)
    print(
        f"master catalog: {len(master)} sources from {sorted(tables)} -> {args.output}"
    )
    return 0


def _synth(args) -> int:
    from pathlib import Path

    from dsa110.catalogs.synthetic import synthetic_nvss, to_nvss_vizier
    from dsa110.errors import ConfigurationError
    from dsa110.photometry.regions import write_table

    if (args.radius is None) != (args.ra is None) or (args.ra is None) != (
        args.dec is None
    ):
        raise ConfigurationError("give all of --ra, --dec and --radius, or none")
    df = synthetic_nvss(ra=args.ra, dec=args.dec, radius=args.radius, rng=args.seed)
    write_table(to_nvss_vizier(df), Path(args.output), overwrite=args.overwrite)
    print(f"{len(df)} synthetic NVSS sources -> {args.output}")
    return 0
