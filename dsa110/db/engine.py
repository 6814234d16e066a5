"""Engines, sessions and migrations.

SQLite (in WAL mode, with foreign keys enforced) in the data directory is the
default; any SQLAlchemy URL (e.g. ``postgresql+psycopg://user@host/db``) works.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from dsa110.errors import ConfigurationError, DSA110Error

__all__ = [
    "DatabaseError",
    "DATA_DIR_ENV",
    "DATABASE_URL_ENV",
    "default_data_dir",
    "default_database_url",
    "make_engine",
    "make_sessionmaker",
    "session_scope",
    "init_db",
    "alembic_config",
    "Database",
]

#: Environment variable naming the data directory.
DATA_DIR_ENV = "DSA110_DATA_DIR"
#: Environment variable holding a database URL (overrides the data directory's SQLite).
DATABASE_URL_ENV = "DSA110_DATABASE_URL"
#: File name of the default SQLite database inside the data directory.
SQLITE_NAME = "dsa110.sqlite"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseError(DSA110Error, RuntimeError):
    """The database cannot be reached, migrated or written."""


def default_data_dir() -> Path:
    """Return the data directory: ``$DSA110_DATA_DIR`` or ``~/dsa110-data``."""
    return Path(os.environ.get(DATA_DIR_ENV, Path.home() / "dsa110-data")).expanduser()


def default_database_url(data_dir=None) -> str:
    """Return ``$DSA110_DATABASE_URL`` or the SQLite file in the data directory.

    Parameters
    ----------
    data_dir : str or Path, optional
        Data directory (default :func:`default_data_dir`). When given, the
        environment's database URL is ignored.
    """
    if data_dir is None and os.environ.get(DATABASE_URL_ENV):
        return os.environ[DATABASE_URL_ENV]
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    return f"sqlite:///{path.expanduser().resolve() / SQLITE_NAME}"


def _sqlite_pragmas(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except Exception:  # pragma: no cover - in-memory databases have no WAL
        pass
    cursor.close()


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL (default :func:`default_database_url`). For a SQLite
        file, its directory is created.
    **kwargs
        Passed to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    sqlalchemy.engine.Engine

    Raises
    ------
    ConfigurationError
        If the URL cannot be parsed or its driver is not installed.
    """
    url = url or default_database_url()
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(f"database URL {url!r} is not valid: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:
        raise ConfigurationError(
            f"cannot create a database engine for {parsed.render_as_string()}: {exc}"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return a ``sessionmaker`` bound to ``engine`` (objects survive commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session]):
    """Open a session, commit on success, roll back on error, always close it."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine):
    """Return an Alembic ``Config`` for the migrations shipped with the package.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The engine migrations run on (passed to ``env.py`` via attributes).
    """
    from alembic.config import Config  # deferred: alembic is only needed to migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def init_db(url: str | Engine | None = None) -> Engine:
    """Create or upgrade a database to the newest schema (``alembic upgrade head``).

    Parameters
    ----------
    url : str or Engine, optional
        Database URL or engine (default :func:`default_database_url`).

    Returns
    -------
    sqlalchemy.engine.Engine
        The engine, ready to use.

    Raises
    ------
    DatabaseError
        If the database cannot be reached or migrated.
    """
    from alembic import command  # deferred: alembic is only needed to migrate

    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        command.upgrade(alembic_config(engine), "head")
    except DSA110Error:
        raise
    except Exception as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"cannot migrate the database at {where}: {exc}") from exc
    return engine


class Database:
    """A migrated database and its sessions: the pipeline's entry point.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        An engine on a database at the newest schema.

    Examples
    --------
    >>> from dsa110.db import Database, ObservationRepository
    >>> db = Database.open("sqlite:////data/dsa110/dsa110.sqlite")  # doctest: +SKIP
    >>> group = "2026-03-01T12:00:00"
    >>> with db.lock(f"group:{group}"), db.session() as session:  # doctest: +SKIP
    ...     ObservationRepository(session).get_by_group(group)
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sessionmaker = make_sessionmaker(engine)

    @classmethod
    def open(cls, url: str | None = None) -> Database:
        """Open (creating or upgrading) the database at ``url``; see :func:`init_db`."""
        return cls(init_db(url))

    def session(self):
        """Return a session context: commits on success, rolls back on error."""
        return session_scope(self.sessionmaker)

    def lock(self, name: str, **kwargs):
        """Return :func:`dsa110.db.hold_lock` for ``name`` on this database."""
        from dsa110.db.repositories.locks import hold_lock  # deferred: avoids a cycle

        return hold_lock(self.sessionmaker, name, **kwargs)

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()
