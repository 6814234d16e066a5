"""The ``dsa110`` database: models, engine/session set-up, migrations, repositories.

Examples
--------
>>> from dsa110.db import init_db, make_sessionmaker, session_scope
>>> from dsa110.db import ObservationRepository
>>> engine = init_db("sqlite:///:memory:")  # doctest: +SKIP
>>> with session_scope(make_sessionmaker(engine)) as session:  # doctest: +SKIP
...     ObservationRepository(session).list()
"""

from dsa110.db.engine import (
    DATA_DIR_ENV,
    DATABASE_URL_ENV,
    Database,
    DatabaseError,
    default_data_dir,
    default_database_url,
    init_db,
    make_engine,
    make_sessionmaker,
    session_scope,
)
from dsa110.db.models import Base
from dsa110.db.repositories import *  # noqa: F403 - the repositories are the public API
from dsa110.db.repositories import __all__ as _repo_all

__all__ = [
    "DATA_DIR_ENV",
    "DATABASE_URL_ENV",
    "Base",
    "Database",
    "DatabaseError",
    "default_data_dir",
    "default_database_url",
    "init_db",
    "make_engine",
    "make_sessionmaker",
    "session_scope",
    *_repo_all,
]
