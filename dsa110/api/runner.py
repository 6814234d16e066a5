"""Job runners: what ``POST /jobs/reprocess`` hands its work to.

The route records a queued job, then calls ``runner.submit``, which must return
at once: the work runs elsewhere (a Dask cluster), never in the request thread.
The pipeline's reprocess function is plugged in by passing it (or its import
path ``"module:function"``) to :class:`DaskJobRunner`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import traceback
from typing import Protocol, runtime_checkable

from dsa110.api.errors import APIError
from dsa110.db import JobRepository, session_scope

__all__ = ["JobRunner", "UnconfiguredJobRunner", "DaskJobRunner", "resolve_function"]

log = logging.getLogger("dsa110.api.jobs")


@runtime_checkable
class JobRunner(Protocol):
    """What the jobs routes need from a runner."""

    def submit(self, job_id: int, kind: str, parameters: dict) -> str | None:
        """Start the job asynchronously and return a runner key (or ``None``)."""

    def cancel(self, job_id: int, runner_key: str | None) -> bool:
        """Ask the job to stop; return whether the runner knew it."""


class UnconfiguredJobRunner:
    """The default when no runner is configured: submissions are refused with 503."""

    def submit(self, job_id: int, kind: str, parameters: dict) -> str | None:  # noqa: D102
        raise APIError(
            503,
            "no_job_runner",
            "this server has no job runner configured; start it with a Dask "
            "scheduler and a reprocess function",
        )

    def cancel(self, job_id: int, runner_key: str | None) -> bool:  # noqa: D102
        return False


def resolve_function(spec):
    """Return a callable from a callable or a ``"module:function"`` string."""
    if callable(spec):
        return spec
    module, _, name = str(spec).partition(":")
    if not name:
        raise ValueError(f"function {spec!r} must be given as 'module:function'")
    return getattr(importlib.import_module(module), name)


class DaskJobRunner:
    """Run jobs as futures on a Dask cluster and record their outcome.

    Parameters
    ----------
    address : str or distributed.Client
        Scheduler address (``tcp://host:8786``) or an existing client.
    function : callable or str
        ``function(start, end, **options)`` that does the work, e.g. the
        pipeline's reprocess function (or its ``"module:function"`` path).
    session_factory : sessionmaker
        Where job outcomes are written.
    """

    def __init__(self, address, function, session_factory):
        self._address = address
        self._function = function
        self._factory = session_factory
        self._client = None
        self._owns_client = False
        self._futures: dict[int, object] = {}
        self._lock = threading.Lock()

    def _get_client(self):
        from distributed import Client  # deferred: only needed once a job is submitted

        with self._lock:
            if self._client is None:
                if isinstance(self._address, Client):
                    self._client = self._address
                else:
                    try:
                        self._client = Client(self._address, timeout="5s")
                        self._owns_client = True
                    except OSError as exc:
                        raise APIError(
                            503,
                            "scheduler_unreachable",
                            f"the Dask scheduler at {self._address} cannot be reached",
                        ) from exc
            return self._client

    def submit(self, job_id: int, kind: str, parameters: dict) -> str | None:  # noqa: D102
        client = self._get_client()
        function = resolve_function(self._function)
        options = dict(parameters.get("options") or {})
        future = client.submit(
            function,
            parameters["start"],
            parameters["end"],
            **options,
            key=f"dsa110-{kind}-{job_id}",
            pure=False,
        )
        with self._lock:
            self._futures[job_id] = future
        future.add_done_callback(lambda fut, job_id=job_id: self._record(job_id, fut))
        return future.key

    def _record(self, job_id: int, future) -> None:
        error = None
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            with session_scope(self._factory) as session:
                repo = JobRepository(session)
                if repo.get(job_id).state in ("queued", "running"):
                    repo.mark_finished(job_id, error=error)
        except Exception:  # pragma: no cover - logged; the job row keeps its state
            log.exception("cannot record the outcome of job %s", job_id)
        with self._lock:
            self._futures.pop(job_id, None)

    def cancel(self, job_id: int, runner_key: str | None) -> bool:  # noqa: D102
        with self._lock:
            future = self._futures.pop(job_id, None)
        if future is None:
            return False
        future.cancel()
        return True

    def close(self) -> None:
        """Close the client this runner opened."""
        if self._client is not None and not isinstance(
            self._address, type(self._client)
        ):
            self._client.close()
