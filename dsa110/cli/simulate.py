"""``dsa110 simulate``: write simulated DSA-110 tiles in the correlator's format."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _source(text: str):
    parts = text.split(",")
    if len(parts) not in (3, 4, 5):
        raise argparse.ArgumentTypeError(
            f"--source {text!r}: expected "
            "RA_DEG,DEC_DEG,FLUX_JY[,SPECTRAL_INDEX[,FWHM_ARCSEC]]"
        )
    try:
        values = tuple(float(p) for p in parts)
        return values + (0.0, 0.0)[: 5 - len(values)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--source {text!r}: {exc}") from exc


def register(subparsers) -> None:
    """Add the ``simulate`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    p = subparsers.add_parser(
        "simulate",
        help="simulate DSA-110 tiles (16 correlator-format UVH5 files + truth each)",
        description="Simulate drift-scan tiles of DSA-110 data: point sources and an "
        "NVSS-like population through the Airy beam, per-antenna gains, thermal noise "
        "and optional RFI. Writes OUTDIR/YYYY-MM-DDTHH:MM:SS_sbNN.hdf5 and one "
        "<tile start>_truth.npz per tile.",
    )
    p.add_argument("outdir", help="output directory")
    p.add_argument(
        "--preset",
        choices=("small", "full"),
        default="small",
        help="small: 12 antennas, 16x4 channels, 6 integrations; "
        "full: 96 antennas, 16x48 channels, 24 integrations (~2.2 GB/tile)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--start", default="2026-11-24T00:00:00", help="start time, ISO UTC")
    p.add_argument("--tiles", type=int, default=1, help="consecutive tiles (default 1)")
    p.add_argument("--dec", type=float, default=33.0, help="pointing declination, deg")
    p.add_argument(
        "--source",
        type=_source,
        action="append",
        default=[],
        metavar="RA,DEC,FLUX[,ALPHA[,FWHM]]",
        help="add a source (degrees, Jy at 1.4 GHz, FWHM in arcsec for a "
        "Gaussian; default a point); repeatable",
    )
    p.add_argument("--no-population", action="store_true", help="no random population")
    p.add_argument("--no-noise", action="store_true", help="no thermal noise")
    p.add_argument("--no-gains", action="store_true", help="unit gains")
    p.add_argument("--rfi", action="store_true", help="add RFI")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=_run)


def _run(args) -> int:
    # deferred: keeps `dsa110 --help` fast (astropy, h5py, numba)
    from dsa110.simulate import SkyModel, simulate_observation

    sources = None
    if args.source:
        ra, dec, flux, alpha, size = zip(*args.source)
        sources = SkyModel.from_degrees(ra, dec, flux, alpha, size)
    tiles = simulate_observation(
        args.outdir,
        preset=args.preset,
        seed=args.seed,
        start=args.start,
        n_tiles=args.tiles,
        dec_deg=args.dec,
        sources=sources,
        population=not args.no_population,
        noise=not args.no_noise,
        gains=not args.no_gains,
        rfi=args.rfi,
        overwrite=args.overwrite,
    )
    for tile in tiles:
        print(
            f"tile {tile.index} ({tile.start}): {len(tile.files)} files, "
            f"truth {tile.truth_path}"
        )
    return 0
