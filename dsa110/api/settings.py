"""Service settings: database, data directory, API keys, CORS, limits."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dsa110.errors import ConfigurationError

__all__ = ["Settings"]


class Settings(BaseModel):
    """Configuration of the REST service.

    Attributes
    ----------
    database_url : str or None
        SQLAlchemy URL; ``None`` means the SQLite file in ``data_dir``.
    data_dir : Path
        The data directory; files are served only from products registered in
        the database whose path lies inside it.
    api_key_hashes : list of str
        SHA-256 hex digests of the accepted API keys (the keys themselves are
        never stored; see :func:`dsa110.api.security.hash_api_key`). With none,
        every mutating route answers 403.
    protect_reads : bool
        Also require an API key on read routes.
    cors_origins : list of str
        Origins allowed by CORS (empty: CORS off).
    dask_scheduler : str or None
        Address of the Dask scheduler jobs run on (checked by ``/health``).
    max_page_size : int
        Largest ``limit`` of a list route.
    max_body_bytes : int
        Largest accepted request body.
    """

    model_config = ConfigDict(extra="forbid")

    database_url: str | None = None
    data_dir: Path = Field(default_factory=lambda: _default_data_dir())
    api_key_hashes: list[str] = Field(default_factory=list)
    protect_reads: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    dask_scheduler: str | None = None
    max_page_size: int = Field(default=500, ge=1, le=10_000)
    max_body_bytes: int = Field(default=65_536, ge=1024)

    @field_validator("api_key_hashes")
    @classmethod
    def _hex_digests(cls, value):
        for item in value:
            if len(item) != 64 or any(
                c not in "0123456789abcdef" for c in item.lower()
            ):
                raise ValueError(
                    "api_key_hashes must hold SHA-256 hex digests (64 hex characters); "
                    "hash a key with `dsa110 serve --hash-key`"
                )
        return [item.lower() for item in value]

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Build settings from ``DSA110_*`` environment variables, then ``overrides``.

        Variables: ``DSA110_DATABASE_URL``, ``DSA110_DATA_DIR``,
        ``DSA110_API_KEY_HASHES`` (comma-separated), ``DSA110_API_PROTECT_READS``
        (``1``/``true``), ``DSA110_CORS_ORIGINS`` (comma-separated),
        ``DSA110_DASK_SCHEDULER``.

        Raises
        ------
        ConfigurationError
            If a value is invalid.
        """
        env = os.environ
        values: dict = {}
        if env.get("DSA110_DATABASE_URL"):
            values["database_url"] = env["DSA110_DATABASE_URL"]
        if env.get("DSA110_DATA_DIR"):
            values["data_dir"] = env["DSA110_DATA_DIR"]
        if env.get("DSA110_API_KEY_HASHES"):
            values["api_key_hashes"] = _split(env["DSA110_API_KEY_HASHES"])
        if env.get("DSA110_API_PROTECT_READS"):
            values["protect_reads"] = env["DSA110_API_PROTECT_READS"].lower() in (
                "1",
                "true",
                "yes",
            )
        if env.get("DSA110_CORS_ORIGINS"):
            values["cors_origins"] = _split(env["DSA110_CORS_ORIGINS"])
        if env.get("DSA110_DASK_SCHEDULER"):
            values["dask_scheduler"] = env["DSA110_DASK_SCHEDULER"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigurationError(f"invalid service settings: {exc}") from exc


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _default_data_dir() -> Path:
    from dsa110.db.engine import (
        default_data_dir,
    )  # deferred: keeps settings import light

    return default_data_dir()
