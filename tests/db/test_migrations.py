"""Migrations create exactly the models' schema; SQLite uses WAL and foreign keys."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from dsa110.db import Base, DatabaseError, init_db, make_engine
from dsa110.db.engine import alembic_config
from dsa110.errors import ConfigurationError


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_every_model_table_is_created(engine):
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_is_idempotent_and_downgrade_drops_everything(engine):
    init_db(engine)  # a second upgrade to head is a no-op
    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(alembic_config(engine), "head")
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_sqlite_uses_wal_and_foreign_keys(tmp_path):
    engine = init_db(f"sqlite:///{tmp_path / 'sub' / 'x.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_default_url_lives_in_data_dir(tmp_path, monkeypatch):
    from dsa110.db import default_database_url

    monkeypatch.delenv("DSA110_DATABASE_URL", raising=False)
    monkeypatch.setenv("DSA110_DATA_DIR", str(tmp_path))
    assert default_database_url() == f"sqlite:///{tmp_path.resolve() / 'dsa110.sqlite'}"
    monkeypatch.setenv("DSA110_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert default_database_url() == "postgresql+psycopg://u@h/db"


def test_bad_urls_raise_library_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="not valid"):
        make_engine("not a url at all")
    with pytest.raises(DatabaseError, match="cannot migrate"):
        init_db("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
