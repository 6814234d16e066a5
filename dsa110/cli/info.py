"""``dsa110 info PATH``: summarise a group without reading its visibilities."""

from __future__ import annotations

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``info`` subcommand."""
    p = subparsers.add_parser(
        "info",
        help="summarise an observation (times, pointing, antennas, subbands, flags)",
        description="Print a group's summary from its headers and flags; the "
        "visibilities are not read.",
    )
    p.add_argument("path", nargs="+", help="a group directory, or its subband files")
    p.add_argument(
        "--missing",
        choices=("error", "flag", "skip"),
        default="flag",
        help="how to treat absent subbands (default: flag, and report them)",
    )
    p.add_argument("--no-flags", action="store_true", help="do not read the flags")
    p.set_defaults(func=_run)


def _run(args) -> int:
    # Deferred: keep `dsa110 --help` fast.
    from dsa110.io import open_observation
    from dsa110.io.summary import summarize

    target = args.path[0] if len(args.path) == 1 else args.path
    ds = open_observation(target, missing=args.missing)
    print(summarize(ds, flags=not args.no_flags))
    return 0
