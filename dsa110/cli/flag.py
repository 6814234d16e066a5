"""``dsa110 flag INPUT``: flag RFI and report flag fractions."""

from __future__ import annotations

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``flag`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The dispatcher's subparsers.
    """
    p = subparsers.add_parser(
        "flag",
        help="flag RFI (zeros, autos, SumThreshold, MAD clip, extension, dead ants)",
        description="Flag INPUT and report flag fractions per antenna, channel and "
        "time. INPUT is a zarr visibility store (its FLAG is replaced), a Measurement "
        "Set (its FLAG column is rewritten), or a UVH5 group directory / subband files "
        "(never "
        "modified: the flags go to a flag product, by default INPUT.flags.zarr beside "
        "it). With --out the flags of any input go to that flag product instead. Flags "
        "combine with the data's own. No command reads a flag product (convert, "
        "calibrate and image use the flags of their input): it is for Python, "
        "ds.assign(FLAG=dsa110.flagging.open_flag_product(PRODUCT).FLAG.variable) on "
        "the data opened as flagged. To calibrate or image flagged data from the "
        "command line, convert the group to a zarr store or MS and flag that.",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="INPUT",
        help="zarr store, Measurement Set, group directory or subband files",
    )
    p.add_argument(
        "--out", default=None, help="write a flag product (zarr) here instead"
    )
    p.add_argument(
        "--strategy", default="dsa110", help="flag strategy: dsa110 (default) or basic"
    )
    p.add_argument(
        "--mad-sigma", type=float, default=None, help="override the MAD clip level"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="override SumThreshold's first threshold (robust σ)",
    )
    p.add_argument(
        "--missing",
        choices=("error", "flag", "skip"),
        default="error",
        help="absent subbands of a UVH5 group (default: refuse)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing flag product"
    )
    p.add_argument(
        "--csv",
        default=None,
        metavar="PREFIX",
        help="also write PREFIX_antenna.csv, PREFIX_channel.csv, PREFIX_time.csv",
    )
    p.set_defaults(func=_run)


#: What a flag product is for: no command reads one.
_PRODUCT_USE = (
    "no dsa110 command reads it; from Python: "
    "ds.assign(FLAG=open_flag_product(PATH).FLAG.variable), or flag a zarr store "
    "or MS made by 'dsa110 convert' instead"
)


def _kind(paths):
    from pathlib import Path

    if len(paths) == 1:
        p = Path(paths[0])
        if p.is_dir() and (p / ".zgroup").exists():
            return "zarr"
        if p.is_dir() and (p / "table.dat").exists():
            return "ms"
    return "uvh5"


def _default_product(paths):
    from pathlib import Path

    from dsa110.io.groups import parse_subband_filename

    first = Path(paths[0])
    if len(paths) == 1 and first.is_dir():
        return first.parent / f"{first.name.rstrip('/')}.flags.zarr"
    parsed = parse_subband_filename(first)
    stem = first.stem if parsed is None else first.name.split("_sb")[0]
    return first.parent / f"{stem}.flags.zarr"


def _print_report(frac, csv_prefix=None):
    import numpy as np

    print(f"flagged: {frac.attrs['total_fraction']:.4%} of all samples")
    pols = ", ".join(
        f"{p} {v:.4%}"
        for p, v in zip(frac.polarization.values, frac.polarization_fraction.values)
    )
    print(f"per polarization: {pols}")
    print("per antenna:")
    for name, v in zip(frac.antenna.values, frac.antenna_fraction.values):
        print(f"  {name:>4s} {v:8.4%}")
    print("per time:")
    for k, v in enumerate(frac.time_fraction.values):
        print(f"  {k:4d} {frac.time.values[k]:.3f} {v:8.4%}")
    f = frac.frequency.values
    fr = frac.frequency_fraction.values
    block = 48 if f.size % 48 == 0 and f.size > 48 else f.size
    print(f"per channel (blocks of {block}; min / mean / max):")
    for s in range(0, f.size, block):
        sl = slice(s, s + block)
        print(
            f"  {f[sl][0] / 1e6:9.3f}-{f[sl][-1] / 1e6:9.3f} MHz "
            f"{fr[sl].min():8.4%} {fr[sl].mean():8.4%} {fr[sl].max():8.4%}"
        )
    worst = np.argsort(fr)[::-1][: min(10, f.size)]
    print(
        "worst channels: "
        + ", ".join(f"{f[k] / 1e6:.3f} MHz {fr[k]:.1%}" for k in worst)
    )
    if csv_prefix:
        frac[["antenna_fraction", "antenna_number"]].to_dataframe().to_csv(
            f"{csv_prefix}_antenna.csv"
        )
        frac[["frequency_fraction"]].to_dataframe().to_csv(f"{csv_prefix}_channel.csv")
        frac[["time_fraction"]].to_dataframe().to_csv(f"{csv_prefix}_time.csv")


def _run(args) -> int:
    # Deferred: keep `dsa110 --help` fast.
    from dsa110.flagging import flag_fractions, flag_rfi, get_strategy
    from dsa110.flagging.products import (
        open_flag_product,
        recover_ms_flags,
        recover_zarr_flags,
        replace_zarr_flags,
        write_flag_product,
        write_ms_flags,
    )

    overrides = {}
    if args.mad_sigma is not None:
        overrides["mad_sigma"] = args.mad_sigma
    if args.threshold is not None:
        overrides["threshold"] = args.threshold
    strategy = get_strategy({"base": args.strategy, **overrides})

    kind = _kind(args.paths)
    # a run killed while replacing the flags in place left its old ones aside:
    # they go back before the data are read, so a rerun flags what a clean
    # run would
    if kind == "zarr":
        from dsa110.io.zarr_store import open_zarr

        recover_zarr_flags(args.paths[0])
        ds = open_zarr(args.paths[0])
    elif kind == "ms":
        from dsa110.io.ms_reader import read_ms

        if recover_ms_flags(args.paths[0]):
            print(f"{args.paths[0]}: put back the flags a killed run was replacing")
        ds = read_ms(args.paths[0])
    else:
        from dsa110.io import open_observation

        target = args.paths[0] if len(args.paths) == 1 else list(args.paths)
        ds = open_observation(target, missing=args.missing)
    flagged = flag_rfi(ds, strategy=strategy)
    attrs = {"flag_strategy": repr(strategy)}

    if args.out is not None or kind == "uvh5":
        out = args.out or _default_product(args.paths)
        write_flag_product(flagged, out, overwrite=args.overwrite, attrs=attrs)
        frac = flag_fractions(open_flag_product(out))
        where = f"flag product {out} ({_PRODUCT_USE})"
    elif kind == "zarr":
        replace_zarr_flags(flagged, args.paths[0])
        from dsa110.io.zarr_store import open_zarr

        frac = flag_fractions(open_zarr(args.paths[0]))
        where = f"FLAG of {args.paths[0]}"
    else:
        computed = flagged.FLAG.values  # all flags, before the MS changes
        write_ms_flags(
            computed,
            args.paths[0],
            times=ds.time.values,
            antenna1=ds.antenna1.values,
            antenna2=ds.antenna2.values,
            frequency=ds.frequency.values,
        )
        frac = flag_fractions(flagged.assign(FLAG=(flagged.FLAG.dims, computed)))
        where = f"FLAG column of {args.paths[0]}"
    print(f"wrote flags to {where}")
    _print_report(frac, args.csv)
    return 0
