"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from dsa110 import __version__
from dsa110.api.deps import known_query_parameters
from dsa110.api.errors import error_response, install_error_handlers
from dsa110.api.metrics import install_metrics
from dsa110.api.runner import JobRunner, UnconfiguredJobRunner
from dsa110.api.settings import Settings
from dsa110.db import init_db, make_sessionmaker

__all__ = ["create_app", "API_PREFIX", "openapi_document"]

#: Every route lives under this prefix.
API_PREFIX = "/api/v1"


def _too_large(settings):
    return error_response(
        413,
        "payload_too_large",
        f"request bodies are limited to {settings.max_body_bytes} bytes",
    )


def _pool_capacity(engine, default: int = 16) -> int:
    """Return how many connections the pool lends at once (``default``: unbounded)."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size) and overflow >= 0:
        return max(1, size() + overflow)
    return default


class HeadAsGet:
    """Answer ``HEAD`` as the ``GET`` of the same URL, without its body.

    The routes are declared for ``GET`` only, so ``curl -I`` on a product (its
    size, ``ETag`` and type before a download) was a 405. The status and
    headers, ``Content-Length`` included, are the ``GET``'s (RFC 9110 §9.3.2).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message):
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b""})

        await self.app(dict(scope, method="GET"), receive, headers_only)


def create_app(
    settings: Settings | None = None,
    *,
    engine=None,
    job_runner: JobRunner | None = None,
) -> FastAPI:
    """Build the REST service.

    Parameters
    ----------
    settings : Settings, optional
        Service settings (default :meth:`Settings.from_env`).
    engine : sqlalchemy.engine.Engine, optional
        Database engine; by default one is created from ``settings`` and the
        database is migrated to the newest schema.
    job_runner : JobRunner, optional
        Where ``POST /jobs/reprocess`` sends work (default: refuse with 503).

    Returns
    -------
    fastapi.FastAPI
    """
    from dsa110.api.routers import (
        ROUTERS,
    )  # deferred: routers import this module's siblings

    settings = settings or Settings.from_env()
    if engine is None:
        from dsa110.db import default_database_url

        engine = init_db(
            settings.database_url or default_database_url(settings.data_dir)
        )
    app = FastAPI(
        title="dsa110",
        version=__version__,
        description="DSA-110 observations, images, sources, light curves, "
        "ESE candidates, calibration and jobs. Every error has the shape "
        '`{"error": {"code", "message", "details"}}`; mutating routes need an API key '
        "in the `X-API-Key` header.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.job_runner = job_runner or UnconfiguredJobRunner()
    install_error_handlers(app)
    install_metrics(app, API_PREFIX)

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return error_response(400, "bad_request", "invalid Content-Length")
            if int(length) > settings.max_body_bytes:
                return _too_large(settings)
        elif request.method in ("POST", "PUT", "PATCH"):
            # no Content-Length (Transfer-Encoding: chunked): count as it comes
            # (a 960 kB job was stored); the routes get the body read here
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > settings.max_body_bytes:
                    return _too_large(settings)
            request._body = bytes(body)  # what Request.body() caches
        return await call_next(request)

    # At most as many requests inside the routes as the pool has connections.
    # A sync route's session keeps its connection until its response is
    # serialized, which FastAPI does in the thread pool: with more requests
    # than connections (80 at once against 5 + 10), the routes waiting for a
    # connection held every thread while the ones holding connections waited
    # for a thread to serialize and give them back — stalled until the pool's
    # 30 s timeout, then 500s (and "database is locked" for SQLite writes).
    # The others wait here, on the event loop, holding nothing.
    admitted = asyncio.Semaphore(_pool_capacity(engine))

    @app.middleware("http")
    async def _admit(request: Request, call_next):
        async with admitted:
            return await call_next(request)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Content-Type", "If-None-Match"],
            expose_headers=["ETag"],
        )
    app.add_middleware(HeadAsGet)  # outermost: every layer sees the GET
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(known_query_parameters)])
    for router in ROUTERS:
        api.include_router(router)
    app.include_router(api)
    return app


def openapi_document(app: FastAPI | None = None) -> str:
    """Return the OpenAPI schema as stable, indented JSON (``docs/openapi.json``)."""
    if app is None:
        import tempfile

        from dsa110.db import make_engine

        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'schema.sqlite'}")
            app = create_app(Settings(data_dir=tmp), engine=engine)
            doc = app.openapi()
            engine.dispose()
    else:
        doc = app.openapi()
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
