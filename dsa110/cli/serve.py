"""``dsa110 serve``: run the REST service on uvicorn."""

from __future__ import annotations

import argparse

from dsa110.errors import DSA110Error

__all__ = ["register", "ServeError", "bind_socket"]


class ServeError(DSA110Error, OSError):
    """The service cannot start (e.g. its port is taken)."""


def register(subparsers) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser(
        "serve",
        help="run the REST service (FastAPI on uvicorn)",
        description="Serve the dsa110 database over HTTP under /api/v1. Settings not "
        "given here come from DSA110_* environment variables.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--db", metavar="URL", help="database URL (default: SQLite in the data dir)"
    )
    p.add_argument("--data-dir", help="data directory (default $DSA110_DATA_DIR)")
    p.add_argument(
        "--api-key-hash",
        action="append",
        metavar="SHA256",
        help="accepted API key, as its SHA-256 hex digest (repeatable; see --hash-key)",
    )
    p.add_argument(
        "--protect-reads", action="store_true", help="require the key on reads too"
    )
    p.add_argument(
        "--cors-origin", action="append", metavar="ORIGIN", help="allowed origin"
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler jobs run on")
    p.add_argument(
        "--job-function",
        metavar="MODULE:FUNCTION",
        default="dsa110.pipeline:reprocess",
        help="function(start, end, **options) that reprocess jobs run "
        "(default dsa110.pipeline:reprocess)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    p.add_argument(
        "--hash-key",
        metavar="KEY",
        help="print the SHA-256 digest to configure for KEY ('-': read it from "
        "stdin), and exit",
    )
    p.set_defaults(func=_serve)


def bind_socket(host: str, port: int):
    """Bind a listening TCP socket; raise :class:`ServeError` if the port is taken."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} — the port is "
            "probably taken by another process; choose another with --port"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _job_runner(args: argparse.Namespace, session_factory):
    from dsa110.api import (
        DaskJobRunner,
    )  # deferred: the service stack is an optional extra

    if not args.scheduler:
        return None
    return DaskJobRunner(args.scheduler, args.job_function, session_factory)


def _serve(args: argparse.Namespace) -> int:
    if args.hash_key is not None:
        from dsa110.api.security import hash_api_key  # deferred: keeps --help fast

        key = args.hash_key
        if key == "-":
            import sys

            key = sys.stdin.readline().strip()
        print(hash_api_key(key))
        return 0
    from dsa110._compat.optional import import_optional

    uvicorn = import_optional("uvicorn", purpose="dsa110 serve")
    from dsa110.api import Settings, create_app  # deferred: heavy imports
    from dsa110.db import default_database_url, init_db, make_sessionmaker

    if not 0 < args.port < 65536:
        raise ServeError(f"--port must be between 1 and 65535, got {args.port}")
    settings = Settings.from_env(
        database_url=args.db,
        data_dir=args.data_dir,
        api_key_hashes=args.api_key_hash,
        protect_reads=args.protect_reads or None,
        cors_origins=args.cors_origin,
        dask_scheduler=args.scheduler,
    )
    sock = bind_socket(args.host, args.port)
    engine = init_db(settings.database_url or default_database_url(settings.data_dir))
    runner = _job_runner(args, make_sessionmaker(engine))
    app = create_app(settings, engine=engine, job_runner=runner)
    config = uvicorn.Config(app, log_level=args.log_level, proxy_headers=False)
    server = uvicorn.Server(config)
    print(f"dsa110: serving on http://{args.host}:{args.port}/api/v1", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if runner is not None:
            runner.close()
        engine.dispose()
    return 0
