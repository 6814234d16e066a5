"""``/health`` and ``/metrics``."""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from dsa110 import __version__
from dsa110.api.metrics import render_metrics
from dsa110.api.schemas import Health, HealthCheck
from dsa110.api.security import read_access

__all__ = ["router"]

router = APIRouter(tags=["service"], dependencies=[Depends(read_access)])


def _check_database(request: Request) -> HealthCheck:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return HealthCheck(ok=True, detail=request.app.state.engine.dialect.name)
    except Exception as exc:
        return HealthCheck(
            ok=False, detail=f"database unreachable: {type(exc).__name__}"
        )


def _check_data_dir(request: Request) -> HealthCheck:
    path = request.app.state.settings.data_dir
    if not path.is_dir():
        return HealthCheck(ok=False, detail="data directory does not exist")
    if not os.access(path, os.W_OK):
        return HealthCheck(ok=False, detail="data directory is not writable")
    free = shutil.disk_usage(path).free
    gib = free / 2**30
    if gib < 1.0:
        return HealthCheck(
            ok=False, detail=f"data directory has only {gib:.2f} GiB free"
        )
    return HealthCheck(ok=True, detail=f"{gib:.1f} GiB free")


def _check_scheduler(request: Request) -> HealthCheck:
    address = request.app.state.settings.dask_scheduler
    if not address:
        return HealthCheck(ok=True, detail="no Dask scheduler configured")
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection(
            (parsed.hostname, parsed.port or 8786), timeout=2
        ):
            pass
    except OSError:
        return HealthCheck(ok=False, detail="Dask scheduler unreachable")
    return HealthCheck(ok=True, detail="Dask scheduler reachable")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "A component is down"}},
)
def health(request: Request):
    """Report whether the database, data directory and Dask scheduler are usable."""
    checks = {
        "database": _check_database(request),
        "data_dir": _check_data_dir(request),
        "scheduler": _check_scheduler(request),
    }
    ok = all(c.ok for c in checks.values())
    body = Health(status="ok" if ok else "degraded", version=__version__, checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request):
    """Prometheus metrics in the text exposition format."""
    payload, content_type = render_metrics(request.app)
    return Response(payload, media_type=content_type)
