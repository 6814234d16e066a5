"""``dsa110 docs search``: full-text search over the documentation and docstrings."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``docs`` subcommand."""
    p = subparsers.add_parser("docs", help="search the documentation")
    sub = p.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    s = sub.add_parser(
        "search",
        help="search docs/ and the package's docstrings",
        description="Full-text search (SQLite FTS5; the index is built on first use "
        "and refreshed when a page or source file changes).",
    )
    s.add_argument("query", nargs="+", help="words to look for (all must match)")
    s.add_argument("--limit", type=int, default=10, help="most results (default 10)")
    s.add_argument("--rebuild", action="store_true", help="rebuild the index first")
    s.add_argument(
        "--index", help="index file (default ~/.cache/dsa110/docs-index.sqlite)"
    )
    s.set_defaults(func=_search)


def _search(args: argparse.Namespace) -> int:
    from dsa110.docs_search import build_index, search  # deferred: keeps --help fast

    if args.rebuild:
        build_index(args.index, force=True)
    hits = search(" ".join(args.query), limit=max(1, args.limit), index_path=args.index)
    if not hits:
        print("no matches")
        return 0
    for hit in hits:
        title = "" if hit.title == hit.location else f"  {hit.title}\n"
        print(f"{hit.location}\n{title}  {' '.join(hit.snippet.split())}\n")
    return 0
