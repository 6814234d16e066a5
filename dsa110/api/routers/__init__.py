"""One router per resource, mounted under ``/api/v1`` by ``create_app``."""

from dsa110.api.routers import (
    calibration,
    candidates,
    health,
    images,
    jobs,
    observations,
    sources,
)

__all__ = ["ROUTERS"]

#: Every router, in the order they appear in the OpenAPI document.
ROUTERS = [
    health.router,
    observations.router,
    observations.products,
    images.router,
    images.mosaics,
    images.coverage,
    sources.router,
    candidates.router,
    calibration.router,
    jobs.router,
]
