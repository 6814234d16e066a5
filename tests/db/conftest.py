"""Database fixtures: a fresh SQLite file per test, and a throwaway PostgreSQL server.

The PostgreSQL server (:func:`dsa110.db.testing.throwaway_postgres`: ``initdb`` into a
temporary directory, ``pg_ctl start`` on a free port of 127.0.0.1, as the
``postgres`` user when the tests run as root) is started once per session; each test
gets its own database. Tests using it are marked ``postgres`` and skipped without
the binaries or the ``psycopg`` driver.
"""

from __future__ import annotations

import pytest

from dsa110.db import init_db, make_sessionmaker
from dsa110.db.testing import (
    PostgresUnavailable,
    create_database,
    shared_postgres,
    skip_or_fail,
)


@pytest.fixture(scope="session")
def postgres_server():
    """The base URL (no database name) of a throwaway PostgreSQL server."""
    try:
        return shared_postgres()
    except PostgresUnavailable as exc:
        skip_or_fail(exc)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the throwaway server."""
    return create_database(postgres_server)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A database URL: a SQLite file, and (marked ``postgres``) a PostgreSQL one."""
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
