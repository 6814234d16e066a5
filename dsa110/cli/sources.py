"""``dsa110 sources find IMAGE``: blind source finding with Gaussian fits."""

from __future__ import annotations

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``sources`` subcommand."""
    p = subparsers.add_parser(
        "sources",
        help="find sources in an image",
        description="Source finding on restored FITS images.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser(
        "find", help="islands + elliptical Gaussian fits; writes a table and regions"
    )
    q.add_argument("image", help="FITS image in Jy/beam with BMAJ/BMIN/BPA")
    q.add_argument(
        "--output",
        "-o",
        default=None,
        help="table (.csv/.fits/.parquet; default IMAGE stem + _sources.csv)",
    )
    q.add_argument(
        "--seed", type=float, default=5.0, help="seed threshold, sigma (default 5)"
    )
    q.add_argument(
        "--flood", type=float, default=3.0, help="flood threshold, sigma (default 3)"
    )
    q.add_argument("--ds9", default=None, help="also write a ds9 region file")
    q.add_argument("--crtf", default=None, help="also write a CASA region (CRTF) file")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_find)


def _find(args) -> int:
    # Deferred: keep `dsa110 --help` fast.
    from pathlib import Path

    from dsa110.photometry.finding import find_sources
    from dsa110.photometry.image import read_image
    from dsa110.photometry.regions import (
        write_casa_regions,
        write_ds9_regions,
        write_table,
    )

    out = args.output or str(Path(args.image).with_suffix("")) + "_sources.csv"
    if not args.overwrite:
        # every output checked before any is written (a table written, then a
        # refusal for the region file, left a half-made set)
        from dsa110.io.atomic import refuse_existing

        refuse_existing([p for p in (out, args.ds9, args.crtf) if p])
    image = read_image(args.image)
    table = find_sources(image, seed=args.seed, flood=args.flood)
    write_table(table, out, overwrite=args.overwrite)
    if args.ds9:
        write_ds9_regions(table, args.ds9, overwrite=args.overwrite)
    if args.crtf:
        write_casa_regions(table, args.crtf, overwrite=args.overwrite)
    print(f"{len(table)} components -> {out}")
    return 0
