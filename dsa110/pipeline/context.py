"""The pipeline's working context: configuration, data directory, database, stores.

A :class:`PipelineContext` is cheap to build and picklable through its
configuration, so each Dask task builds its own (its own database connection
and stores) from the configuration it is sent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from dsa110.pipeline.config import PipelineConfig

__all__ = ["PipelineContext", "code_version"]


def code_version() -> str:
    """The version of ``dsa110`` recorded in every product's provenance."""
    from dsa110 import __version__

    return __version__


@dataclass
class PipelineContext:
    """Where the pipeline reads and writes, for one configuration.

    Attributes
    ----------
    config : PipelineConfig
    """

    config: PipelineConfig

    @property
    def data_dir(self) -> Path:
        """The data directory (created on first use)."""
        path = Path(self.config.runtime.data_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def subdir(self, *parts: str) -> Path:
        """A directory under the data directory, created on first use."""
        path = self.data_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or SQLite in the data directory."""
        from dsa110.db import default_database_url

        return self.config.runtime.database_url or default_database_url(self.data_dir)

    @functools.cached_property
    def session_factory(self):
        """A SQLAlchemy ``sessionmaker`` on the (migrated) database."""
        from dsa110.db import init_db, make_sessionmaker

        return make_sessionmaker(init_db(self.database_url))

    @functools.cached_property
    def catalog_store(self):
        """The catalog store (``catalogs/`` in the data directory unless configured)."""
        from dsa110.catalogs import CatalogStore

        root = self.config.photometry.catalog or self.subdir("catalogs")
        return CatalogStore(root)

    @functools.cached_property
    def variability_store(self):
        """The variability state and light curves (``variability/``)."""
        from dsa110.variability import VariabilityStore

        return VariabilityStore(self.subdir("variability"))
