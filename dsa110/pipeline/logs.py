"""Structured job logs: one JSON line per event, with tile, stage and timing.

Each job writes ``logs/job-<id>.jsonl`` in the data directory; the same text is
stored with the job in the database when it finishes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from pathlib import Path

__all__ = ["JobLog"]

logger = logging.getLogger("dsa110.pipeline")


class JobLog:
    """Append JSON-line events for one job.

    Parameters
    ----------
    path : Path
        The job's log file.
    **context
        Fields added to every event (e.g. ``tile``, ``job_id``).
    """

    def __init__(self, path: Path, **context):
        self.path = Path(path)
        self.context = context
        self._lines: list[str] = []

    def event(self, event: str, **fields) -> None:
        """Record one event."""
        record = {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(),
            "event": event,
            **self.context,
            **fields,
        }
        line = json.dumps(record, default=str)
        self._lines.append(line)
        with open(self.path, "a") as fh:
            fh.write(line + "\n")
        logger.info(line)

    @contextlib.contextmanager
    def stage(self, name: str, timings: dict | None = None):
        """Time a stage: ``stage_start`` and ``stage_end`` (or ``stage_failed``) events."""
        self.event("stage_start", stage=name)
        start = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            self.event(
                "stage_failed",
                stage=name,
                seconds=time.perf_counter() - start,
                error=f"{type(exc).__name__}: {exc}",
            )
            raise
        seconds = time.perf_counter() - start
        if timings is not None:
            timings[name] = seconds
        self.event("stage_end", stage=name, seconds=seconds)

    def text(self) -> str:
        """All events of this job so far, newline-separated."""
        return "\n".join(self._lines)
