"""Prometheus metrics: request counts and latencies, and database gauges."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from dsa110.db import models

__all__ = ["install_metrics", "render_metrics"]


class _DatabaseCollector:
    """Counts of observations, jobs and candidates by state, read at scrape time."""

    def __init__(self, factory):
        self._factory = factory

    def collect(self):
        gauges = [
            (
                "dsa110_observations",
                "Observations by status",
                models.Observation.status,
            ),
            ("dsa110_jobs", "Jobs by state", models.Job.state),
            ("dsa110_candidates", "Candidates by status", models.Candidate.status),
        ]
        try:
            with self._factory() as session:
                for name, doc, column in gauges:
                    family = GaugeMetricFamily(name, doc, labels=["state"])
                    rows = session.execute(
                        select(column, func.count()).group_by(column)
                    )
                    for state, count in rows:
                        family.add_metric([state], count)
                    yield family
        except Exception:  # the database being down is reported by /health
            return


def install_metrics(app: FastAPI, prefix: str) -> None:
    """Create the app's registry and the middleware that feeds it.

    Parameters
    ----------
    app : fastapi.FastAPI
        The application.
    prefix : str
        The prefix every route is mounted under (used in route labels).
    """
    registry = CollectorRegistry()
    requests = Counter(
        "dsa110_http_requests",
        "HTTP requests by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "dsa110_http_request_seconds",
        "Request latency by route",
        ["route"],
        registry=registry,
    )
    registry.register(_DatabaseCollector(app.state.sessionmaker))
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # the route template (not the raw path) keeps the label set bounded
        template = getattr(route, "path", None) or "unmatched"
        if route is not None and not template.startswith(prefix):
            # newer FastAPI hands the router's own route, without the include prefix
            template = prefix + template
        requests.labels(request.method, template, str(response.status_code)).inc()
        latency.labels(template).observe(time.perf_counter() - start)
        return response


def render_metrics(app: FastAPI) -> tuple[bytes, str]:
    """Return the exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(app.state.metrics_registry), CONTENT_TYPE_LATEST
