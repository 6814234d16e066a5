"""Jobs: submission, state transitions, timings, errors and logs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dsa110.db.models import JOB_STATES, Job, utcnow
from dsa110.db.repositories._common import (
    InvalidStateError,
    NotFoundError,
    Page,
    check_choice,
    paginate,
)

__all__ = ["JobRepository", "FINAL_JOB_STATES"]

#: States a job never leaves.
FINAL_JOB_STATES = ("succeeded", "failed", "cancelled")
_MAX_LOG_CHARS = 1_000_000


class JobRepository:
    """Track pipeline jobs.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def create(
        self,
        kind: str,
        *,
        parameters: dict | None = None,
        observation_id: int | None = None,
    ) -> Job:
        """Record a queued job."""
        job = Job(
            kind=kind,
            state="queued",
            parameters=parameters,
            observation_id=observation_id,
        )
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: int) -> Job:
        """Return one job."""
        job = self.session.get(Job, job_id)
        if job is None:
            raise NotFoundError("job", job_id)
        return job

    def list(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """List jobs, newest first."""
        stmt = select(Job)
        if state is not None:
            stmt = stmt.where(Job.state == check_choice("state", state, JOB_STATES))
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        stmt = stmt.order_by(Job.submitted_at.desc(), Job.id.desc())
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def _transition(self, job_id: int, state: str) -> Job:
        check_choice("state", state, JOB_STATES)
        job = self.get(job_id)
        if job.state in FINAL_JOB_STATES:
            raise InvalidStateError(
                f"job {job_id} is already {job.state}; cannot become {state}"
            )
        job.state = state
        return job

    def mark_running(self, job_id: int, *, runner_key: str | None = None) -> Job:
        """Mark a job running (a worker started it)."""
        job = self._transition(job_id, "running")
        job.started_at = utcnow()
        if runner_key is not None:
            job.runner_key = runner_key
        self.session.flush()
        return job

    def mark_finished(self, job_id: int, *, error: str | None = None) -> Job:
        """Mark a job ended: ``succeeded`` without ``error``, else ``failed``."""
        job = self._transition(job_id, "failed" if error else "succeeded")
        job.finished_at = utcnow()
        job.error = error
        self.session.flush()
        return job

    def cancel(self, job_id: int) -> Job:
        """Mark a queued or running job cancelled."""
        job = self._transition(job_id, "cancelled")
        job.finished_at = utcnow()
        self.session.flush()
        return job

    def append_log(self, job_id: int, text: str) -> Job:
        """Append text to a job's log (the oldest text is dropped past 1 MB)."""
        job = self.get(job_id)
        log = (job.log or "") + text
        job.log = log[-_MAX_LOG_CHARS:]
        self.session.flush()
        return job
