"""``dsa110 photometry IMAGE``: forced photometry at catalog positions."""

from __future__ import annotations

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``photometry`` subcommand."""
    p = subparsers.add_parser(
        "photometry",
        help="forced photometry (Condon matched filter) at catalog positions",
        description="Measure flux densities at known positions: from a table "
        "(--catalog, "
        "with ra/dec columns in degrees) or from the catalog store (--store, sources "
        "within the image).",
    )
    p.add_argument("image", help="FITS image in Jy/beam with BMAJ/BMIN/BPA")
    p.add_argument(
        "--catalog", default=None, help="table of positions (.csv/.fits/.parquet)"
    )
    p.add_argument(
        "--store",
        default=None,
        help="catalog store to cone-search instead (default: $DSA110_CATALOG_STORE)",
    )
    p.add_argument(
        "--survey", default="nvss", help="survey in the store (default nvss)"
    )
    p.add_argument(
        "--output",
        "-o",
        default=None,
        help="output table (default IMAGE stem + _forced.csv)",
    )
    p.add_argument(
        "--noise",
        choices=("beam", "white"),
        default="beam",
        help="noise correlation model for the errors (default beam)",
    )
    p.add_argument(
        "--pb",
        default=None,
        help="primary-beam FITS of IMAGE: IMAGE is then the apparent (uncorrected) "
        "image, and each flux is corrected by the beam at its source (the "
        "pipeline's way; exact up to the PB limit)",
    )
    p.add_argument(
        "--pb-limit",
        type=float,
        default=None,
        help="with --pb: no flux where the beam is below this (default 0.2)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_run)


def _run(args) -> int:
    # Deferred: keep `dsa110 --help` fast.
    import os
    from pathlib import Path

    import numpy as np

    from dsa110.catalogs.store import CatalogStore
    from dsa110.catalogs.surveys import read_table
    from dsa110.errors import ConfigurationError, FileFormatError
    from dsa110.photometry.forced import forced_photometry
    from dsa110.photometry.image import read_image, read_primary_beam
    from dsa110.photometry.regions import write_table

    image = read_image(args.image)
    if args.catalog:
        cat = read_table(args.catalog)
        cols = {c.lower(): c for c in cat.columns}
        if "ra" not in cols or "dec" not in cols:
            raise FileFormatError(
                args.catalog, "needs 'ra' and 'dec' columns (degrees)", field="ra"
            )
        cat = cat.rename(columns={cols["ra"]: "ra", cols["dec"]: "dec"})
    else:
        root = args.store or os.environ.get("DSA110_CATALOG_STORE")
        if not root:
            raise ConfigurationError(
                "give --catalog or --store (or set DSA110_CATALOG_STORE)"
            )
        ny, nx = image.shape
        ra0, dec0 = image.wcs.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2)
        cra, cdec = image.wcs.pixel_to_world_values(
            [0, nx - 1, 0, nx - 1], [0, 0, ny - 1, ny - 1]
        )
        from dsa110.catalogs.store import angular_separation

        radius = float(np.max(angular_separation(ra0, dec0, cra, cdec)))
        cat = CatalogStore(root).cone_search(
            float(ra0), float(dec0), radius, surveys=[args.survey]
        )
    beam = {}
    if args.pb is not None:
        from dsa110.imaging.pbcor import DEFAULT_PB_LIMIT

        limit = DEFAULT_PB_LIMIT if args.pb_limit is None else args.pb_limit
        beam = dict(
            primary_beam=read_primary_beam(args.pb, image.shape), pb_limit=limit
        )
    elif args.pb_limit is not None:
        raise ConfigurationError("--pb-limit needs --pb (the primary-beam image)")
    res = forced_photometry(
        image,
        cat["ra"].to_numpy(float),
        cat["dec"].to_numpy(float),
        noise=args.noise,
        **beam,
    )
    extra = [c for c in ("name", "flux_int", "survey") if c in cat]
    for c in extra:
        res[f"catalog_{c}"] = cat[c].to_numpy()
    res = res[res["inside"]]
    out = args.output or str(Path(args.image).with_suffix("")) + "_forced.csv"
    write_table(res, out, overwrite=args.overwrite)
    print(f"{len(res)} positions measured -> {out}")
    return 0
