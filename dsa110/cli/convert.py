"""``dsa110 convert``: UVH5 groups to Measurement Set, zarr or UVH5 products."""

from __future__ import annotations

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``convert`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    p = subparsers.add_parser(
        "convert",
        help="convert an observation group to a Measurement Set, zarr or UVH5",
        description="Convert one group (INPUT: a group directory, DIR/GROUP_ID, or its "
        "subband files) to OUTPUT, or with --watch INDIR OUTDIR convert every group as "
        "soon as its 16 files are there. Products are written under a temporary name "
        "and renamed into place: a killed conversion leaves nothing at OUTPUT.",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="INPUT [INPUT ...] OUTPUT, or with --watch: INDIR OUTDIR",
    )
    p.add_argument(
        "--format",
        choices=("ms", "zarr", "uvh5"),
        default=None,
        help="output format (default: from OUTPUT's suffix, else ms)",
    )
    p.add_argument(
        "--rephase",
        default=None,
        metavar="median_meridian|NAME|RA,DEC",
        help="rephase to one centre first: the median meridian, a calibrator "
        "name, or RA,DEC in degrees (an MS with one field is rephased to the "
        "median meridian by default)",
    )
    p.add_argument(
        "--spw",
        choices=("merged", "subband"),
        default="merged",
        help="MS spectral windows: one of 768 channels (default) or one per subband",
    )
    p.add_argument(
        "--fields",
        choices=("single", "per_integration"),
        default="single",
        help="MS fields: one rephased field (default) or one per integration",
    )
    p.add_argument(
        "--missing",
        choices=("error", "flag", "skip"),
        default="error",
        help="absent subbands: refuse (default), fill with flagged zeros, or omit",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing product"
    )
    p.add_argument(
        "--time-chunk",
        type=int,
        default=None,
        help="integrations per streamed chunk (default: ~64 MB)",
    )
    p.add_argument(
        "--sigma-spectrum",
        action="store_true",
        help="MS: also write SIGMA_SPECTRUM (WEIGHT_SPECTRUM^-1/2; off by default)",
    )
    p.add_argument(
        "--no-weight-spectrum",
        action="store_true",
        help="MS: no WEIGHT_SPECTRUM (per-row WEIGHT/SIGMA only)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    w = p.add_argument_group("watching a directory")
    w.add_argument(
        "--watch",
        action="store_true",
        help="watch INDIR and convert each complete group into OUTDIR",
    )
    w.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds to wait for an incomplete group (default 900)",
    )
    w.add_argument(
        "--incomplete",
        choices=("skip", "flag"),
        default="skip",
        help="after the timeout: skip the group (default) or flag-fill it",
    )
    w.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds a complete group's files must be unchanged (default 5)",
    )
    w.add_argument("--poll", type=float, default=10.0, help="seconds between scans")
    w.add_argument("--once", action="store_true", help="scan once and exit")
    p.set_defaults(func=_run, _parser=p)


def _run(args) -> int:
    # Deferred: keep `dsa110 --help` fast (dask, casacore, astropy).
    from dsa110.io.convert import convert, watch

    if len(args.paths) < 2:
        args._parser.error("need INPUT and OUTPUT (or INDIR and OUTDIR with --watch)")
    kw = dict(
        rephase=args.rephase,
        spw=args.spw,
        fields=args.fields,
        time_chunk=args.time_chunk,
        progress=not args.no_progress,
        weight_spectrum=not args.no_weight_spectrum,
        sigma_spectrum=args.sigma_spectrum,
    )
    if args.watch:
        if len(args.paths) != 2:
            args._parser.error("--watch takes exactly INDIR and OUTDIR")
        indir, outdir = args.paths
        state = watch(
            indir,
            outdir,
            format=args.format or "ms",
            timeout=args.timeout,
            incomplete=args.incomplete,
            settle=args.settle,
            poll=args.poll,
            once=args.once,
            log=lambda m: print(m, flush=True),
            **kw,
        )
        failed = [g for g, s in state.items() if s.get("status") == "failed"]
        return 1 if failed else 0
    *inputs, output = args.paths
    target = inputs[0] if len(inputs) == 1 else inputs
    out = convert(
        target,
        output,
        format=args.format,
        missing=args.missing,
        overwrite=args.overwrite,
        **kw,
    )
    print(f"wrote {out}")
    return 0
