"""``dsa110 image`` and ``dsa110 mosaic``: CLEANed images of a tile, linear mosaics.

Defaults are for a full DSA-110 tile, as the pipeline's: 2400 pixels of 6″
(≈ 2.7 pixels across the ≈ 16″ beam of the 2.6 km outrigger baselines; 4° covers
the primary beam down to its 0.2 PB limit),
Briggs robust 0, w-gridding at epsilon 1e-4, all integrations rephased to the
tile's median meridian. See :mod:`dsa110.imaging` for the reasoning.
"""

from __future__ import annotations

import os

__all__ = ["register"]


def register(subparsers):
    """Add the ``image`` and ``mosaic`` subcommands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
    """
    p = subparsers.add_parser(
        "image",
        help="CLEAN, restore and primary-beam-correct a tile",
        description="Image a DSA-110 observation (UVH5 files of one group, a zarr "
        "store or a Measurement Set) into FITS products PREFIX-image.fits, "
        "-image-pb.fits, -residual.fits, -model.fits, -psf.fits, -pb.fits and a PNG.",
    )
    p.add_argument(
        "input",
        nargs="+",
        help="UVH5 file(s) of one group, its directory, or a .zarr/.ms",
    )
    p.add_argument("outprefix", help="prefix of the output files")
    p.add_argument(
        "--size", type=int, default=2400, help="pixels on a side (default 2400)"
    )
    p.add_argument(
        "--cell", type=float, default=6.0, help="pixel size, arcsec (default 6)"
    )
    p.add_argument(
        "--weighting", choices=("natural", "uniform", "briggs"), default="briggs"
    )
    p.add_argument(
        "--robust", type=float, default=0.0, help="Briggs robustness (default 0)"
    )
    p.add_argument(
        "--taper", type=float, default=None, help="Gaussian taper FWHM, arcsec"
    )
    p.add_argument("--uvmin", type=float, default=0.0, help="minimum uv distance, λ")
    p.add_argument(
        "--uvmax", type=float, default=float("inf"), help="maximum uv distance, λ"
    )
    p.add_argument("--niter", type=int, default=10000, help="maximum CLEAN components")
    p.add_argument(
        "--threshold", type=float, default=0.0, help="absolute threshold, Jy/beam"
    )
    p.add_argument("--auto-threshold", type=float, default=1.5, help="threshold in σ")
    p.add_argument(
        "--auto-mask", type=float, default=4.0, help="auto-mask level in σ (0: off)"
    )
    p.add_argument("--gain", type=float, default=0.1, help="loop gain")
    p.add_argument("--mgain", type=float, default=0.8, help="major-cycle gain")
    p.add_argument("--epsilon", type=float, default=1e-4, help="gridding accuracy")
    p.add_argument(
        "--no-wgridding", action="store_true", help="ignore w (narrow fields)"
    )
    p.add_argument("--pb-limit", type=float, default=0.2, help="primary-beam cut-off")
    p.add_argument(
        "--bda-loss",
        type=float,
        default=0.0,
        help="baseline-dependent averaging in frequency: largest smearing loss at "
        "the image's edge (default 0: none; 0.01 grids ~30%% of a tile's data)",
    )
    p.add_argument(
        "--nterms",
        type=int,
        default=1,
        help="Taylor terms of CLEAN's spectral model (default 1; 2-3: multi-term MFS)",
    )
    p.add_argument(
        "--no-restore-points",
        action="store_true",
        help="restore CLEAN's pixel components as they are (default: a cluster "
        "that fits one point source is restored as one Gaussian at its sub-pixel "
        "position)",
    )
    p.add_argument(
        "--beam-chunks",
        type=int,
        nargs=2,
        metavar=("TIME", "FREQ"),
        default=None,
        help="predict CLEAN's model through the drifting primary beam of TIME "
        "blocks of integrations at FREQ frequencies interpolated across the band "
        "(default: the image's mean beam)",
    )
    p.add_argument(
        "--center",
        default="median_meridian",
        help="phase centre: median_meridian, a calibrator name or 'RA,DEC' deg",
    )
    p.add_argument(
        "--subbands",
        action="store_true",
        help="one image per DSA-110 subband the channels fall in: PREFIX-spwNN-*",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads of the gridding kernels and FFTs (0: the machine's CPUs; one "
        "gridding task of them all holds one stack of w planes)",
    )
    p.add_argument(
        "--transients",
        type=float,
        default=None,
        metavar="NSIGMA",
        help="search each integration, the tile's CLEAN model subtracted, for "
        "peaks above NSIGMA: PREFIX-transients.csv (not with --subbands; the "
        "tile is then CLEANed through the drifting beam, --beam-chunks 8 2 "
        "unless given)",
    )
    p.add_argument("--no-png", action="store_true", help="skip the PNG quicklook")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing products (default: refuse before imaging)",
    )
    p.set_defaults(func=_image)

    m = subparsers.add_parser(
        "mosaic",
        help="linear mosaic of PB-corrected images",
        description="Weighted (PB² / σ²) linear mosaic of PREFIX-image-pb.fits files "
        "(their PREFIX-pb.fits beams are read too); writes OUT.fits, OUT-weight.fits "
        "and OUT-noise.fits.",
    )
    m.add_argument("images", nargs="+", help="PREFIX-image-pb.fits files")
    m.add_argument("out", help="output prefix")
    m.add_argument("--pb-limit", type=float, default=0.2, help="primary-beam cut-off")
    m.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    m.set_defaults(func=_mosaic)


def _open(inputs):
    """Open the input as a visibility dataset (deferred imports keep --help fast)."""
    from pathlib import Path

    from dsa110.errors import ConfigurationError

    first = Path(inputs[0])
    if len(inputs) == 1 and first.suffix == ".zarr":
        from dsa110.io.zarr_store import open_zarr

        return open_zarr(first)
    if len(inputs) == 1 and first.suffix == ".ms":
        from dsa110.io.ms import read_ms

        return read_ms(first)
    for path in inputs:
        if not Path(path).exists():
            raise ConfigurationError(f"{path}: no such file")
    from dsa110.io import open_observation

    # one input may be a group's directory (as for dsa110 flag, convert, info)
    return open_observation(
        str(first) if len(inputs) == 1 else [str(p) for p in inputs]
    )


def _image(args):
    from pathlib import Path

    import numpy as np

    from dsa110.errors import ConfigurationError
    from dsa110.imaging.fits import product_paths, write_products
    from dsa110.imaging.imager import ImageGeometry
    from dsa110.imaging.modes import (
        STEADY_SKY_BEAM_BLOCKS,
        check_clean_options,
        image_subbands,
        image_tile,
        subband_windows,
    )
    from dsa110.io.atomic import refuse_existing

    if args.threads < 0:
        raise ConfigurationError(f"--threads={args.threads}: expected 0 or more")
    # every option no image can be made with is refused before the data are read
    geometry = ImageGeometry(args.size, args.cell, args.epsilon, not args.no_wgridding)
    check_clean_options(
        niter=args.niter,
        threshold=args.threshold,
        auto_threshold=args.auto_threshold,
        auto_mask=args.auto_mask or None,
        pb_limit=args.pb_limit,
    )
    png = not args.no_png
    transients = None
    if args.transients is not None:
        if args.subbands:
            raise ConfigurationError("--transients: not with --subbands")
        if not args.transients > 0:
            raise ConfigurationError(
                f"--transients={args.transients}: expected a level > 0 σ"
            )
        transients = Path(f"{args.outprefix}-transients.csv")
    if not args.overwrite and not args.subbands:
        outputs = list(product_paths(args.outprefix, png=png).values())
        refuse_existing(outputs + ([transients] if transients else []))
    ds = _open(args.input)
    kwargs = dict(
        center=args.center,
        geometry=geometry,
        weighting=args.weighting,
        robust=args.robust,
        taper_arcsec=args.taper,
        uv_range=(args.uvmin, args.uvmax),
        niter=args.niter,
        threshold=args.threshold,
        auto_threshold=args.auto_threshold,
        auto_mask=args.auto_mask or None,
        gain=args.gain,
        mgain=args.mgain,
        pb_limit=args.pb_limit,
        nthreads=args.threads or os.cpu_count() or 1,
        bda_loss=args.bda_loss,
        # the snapshot search predicts the model into single integrations:
        # it must be CLEANed through the drifting beam (snapshot_search)
        drift_beam=args.beam_chunks
        or ((STEADY_SKY_BEAM_BLOCKS, 2) if transients else None),
        nterms=args.nterms,
        restore_points=not args.no_restore_points,
    )
    if args.subbands:
        prefixes = [f"{args.outprefix}-spw{sb:02d}" for sb, _ in subband_windows(ds)]
        if not args.overwrite:
            for prefix in prefixes:
                refuse_existing(product_paths(prefix, png=png).values())
        for prefix, (_, products) in zip(prefixes, image_subbands(ds, **kwargs)):
            write_products(products, prefix, png=png)
            beam = products.beam
            print(
                f"{prefix}: beam {beam.bmaj:.1f}″×{beam.bmin:.1f}″ "
                f"σ {products.sigma * 1e3:.3f} mJy/beam"
            )
        return 0
    products = image_tile(ds, **kwargs)
    files = write_products(products, args.outprefix, png=png)
    peak = float(np.nanmax(products.pbcor))
    print(
        f"beam {products.beam.bmaj:.1f}″×{products.beam.bmin:.1f}″ PA {products.beam.bpa:.0f}°, "
        f"σ {products.sigma * 1e3:.3f} mJy/beam, peak {peak:.4g} Jy/beam, "
        f"{products.params['niter_done']} components in {products.params['major_cycles']} "
        "major cycles"
    )
    for path in files.values():
        print(path)
    if transients is not None:
        _search_transients(ds, products, transients, args, kwargs)
    return 0


def _search_transients(ds, products, path, args, kwargs):
    """Snapshot search of the tile, its CLEAN model first; write the candidates."""
    import numpy as np
    import pandas as pd
    from astropy.time import Time

    from dsa110.imaging.modes import snapshot_search
    from dsa110.photometry.regions import write_table

    found = snapshot_search(
        ds,
        geometry=kwargs["geometry"],
        nsigma=args.transients,
        weighting=args.weighting,
        robust=args.robust,
        nthreads=kwargs["nthreads"],
        center=args.center,
        model=products.model,
        niter=args.niter,
    )
    table = pd.DataFrame(
        {
            "time_utc": [Time(c["time"], format="unix").isot for c in found],
            "time_index": [c["time_index"] for c in found],
            "ra_deg": [float(np.degrees(c["ra"])) for c in found],
            "dec_deg": [float(np.degrees(c["dec"])) for c in found],
            "peak_jy_beam": [c["peak"] for c in found],
            "snr": [c["snr"] for c in found],
        }
    )
    write_table(table, path, overwrite=True)
    print(f"{len(found)} transient candidates above {args.transients:g}σ: {path}")


def _mosaic(args):
    from dsa110.imaging.mosaic import mosaic_fits

    mosaic = mosaic_fits(
        args.images, args.out, pb_limit=args.pb_limit, overwrite=args.overwrite
    )
    for path in mosaic.values():
        print(path)
    return 0
