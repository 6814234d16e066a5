"""Database fixtures: a fresh SQLite file per test, and a throwaway PostgreSQL server.

The PostgreSQL server (``initdb`` into a temporary directory, ``pg_ctl start`` on a
free port on 127.0.0.1) is started once per session, as the ``postgres`` user when
the tests run as root (PostgreSQL refuses to run as root); each test gets its own
database. Tests using it are marked ``postgres`` and skipped without the binaries
or the ``psycopg`` driver.
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

import pytest

from dsa110.db import init_db, make_sessionmaker

_PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _pg_tool(name):
    found = shutil.which(name)
    if found:
        return found
    for directory in _PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return None


def _free_port():
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_pg_user(cmd):
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def postgres_server():
    """Start a throwaway PostgreSQL server; yield its base URL (no database name)."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    pytest.importorskip("psycopg", reason="the psycopg driver is needed for PostgreSQL")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    tmp = Path(tempfile.mkdtemp(prefix="dsa110-pg-"))
    data = tmp / "data"
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        tmp.chmod(0o700)
    port = _free_port()
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
            [pg_ctl, "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://dsa110@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_pg_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


_db_counter = itertools.count()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the throwaway server."""
    from sqlalchemy import create_engine, text

    name = f"test_{os.getpid()}_{next(_db_counter)}"
    admin = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A database URL: a SQLite file, and (marked ``postgres``) a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dsa110.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url):
    """An engine on a migrated (``upgrade head``) database."""
    engine = init_db(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    """A ``sessionmaker`` on the migrated database."""
    return make_sessionmaker(engine)
