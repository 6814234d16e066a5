"""A throwaway PostgreSQL server for tests (``initdb`` + ``pg_ctl`` in a temp dir).

Used by the ``postgres``-marked tests of ``tests/db`` and ``tests/api``; the
fixtures skip when the binaries or the ``psycopg`` driver are missing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from dsa110.errors import DSA110Error

__all__ = [
    "PostgresUnavailable",
    "postgres_tools",
    "throwaway_postgres",
    "create_database",
]

_counter = itertools.count()
_shared: dict = {}


class PostgresUnavailable(DSA110Error, RuntimeError):
    """PostgreSQL binaries, the driver, or a way to run them is missing."""


def postgres_tools() -> tuple[str, str]:
    """Return the paths of ``initdb`` and ``pg_ctl`` (PATH, then /usr/lib/postgresql).

    Raises
    ------
    PostgresUnavailable
        If either is missing, or ``psycopg`` is not installed.
    """
    found = {}
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for name in ("initdb", "pg_ctl"):
        found[name] = shutil.which(name) or next(
            (str(d / name) for d in dirs if (d / name).exists()), None
        )
        if found[name] is None:
            raise PostgresUnavailable(
                f"{name} is not installed (apt-get install postgresql)"
            )
    try:
        import psycopg  # noqa: F401 - only checking that the driver is there
    except ImportError as exc:
        raise PostgresUnavailable("the psycopg driver is not installed") from exc
    if os.geteuid() == 0 and not shutil.which("runuser"):
        raise PostgresUnavailable(
            "running as root without runuser: cannot start PostgreSQL"
        )
    return found["initdb"], found["pg_ctl"]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_pg_user(cmd):
    # PostgreSQL refuses to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def throwaway_postgres():
    """Run a PostgreSQL server on a free port of 127.0.0.1; yield its base URL.

    The URL has no database name; see :func:`create_database`. The server and its
    data directory are removed on exit.
    """
    initdb, pg_ctl = postgres_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dsa110-pg-"))
    data = tmp / "data"
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        tmp.chmod(0o700)
    port = _free_port()
    try:
        subprocess.run(
            _as_pg_user(
                [initdb, "-D", str(data), "-U", "dsa110", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_pg_user(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-o",
                    opts,
                    "-l",
                    str(tmp / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://dsa110@127.0.0.1:{port}"
    finally:
        if data.exists():
            subprocess.run(
                _as_pg_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
            )
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(base_url: str) -> str:
    """Create a fresh, empty database on the server; return its URL."""
    from sqlalchemy import create_engine, text

    name = f"test_{os.getpid()}_{next(_counter)}"
    admin = create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return f"{base_url}/{name}"


def shared_postgres() -> str:
    """Return the base URL of one server per process, started on first use.

    The server is stopped when the process exits (``atexit``), so every test
    module of a session shares one server and each test makes its own database.
    """
    if "url" not in _shared:
        import atexit

        stack = contextlib.ExitStack()
        _shared["url"] = stack.enter_context(throwaway_postgres())
        atexit.register(stack.close)
    return _shared["url"]


def skip_or_fail(exc: Exception) -> None:
    """Skip a PostgreSQL test whose server cannot start — or fail it when
    ``DSA110_REQUIRE_POSTGRES=1`` (CI sets it, so the tests cannot silently skip).

    Parameters
    ----------
    exc : Exception
        Why the server is unavailable.
    """
    import os

    import pytest  # deferred: only test code calls this

    if os.environ.get("DSA110_REQUIRE_POSTGRES") == "1":
        pytest.fail(
            f"PostgreSQL is required (DSA110_REQUIRE_POSTGRES=1) but unavailable: {exc}"
        )
    pytest.skip(str(exc))
