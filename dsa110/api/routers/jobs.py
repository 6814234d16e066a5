"""``/jobs``: list, detail with logs, submit a reprocess job, cancel."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from dsa110.api.deps import PageDep, SessionDep
from dsa110.api.errors import APIError
from dsa110.api.routers._common import ERRORS, IdPath
from dsa110.api.runner import UnconfiguredJobRunner
from dsa110.api.schemas import ErrorEnvelope, JobDetail, JobOut, Page, ReprocessRequest
from dsa110.api.security import read_access, require_api_key
from dsa110.db import FINAL_JOB_STATES, JobRepository, session_scope

__all__ = ["router"]

router = APIRouter(
    prefix="/jobs", tags=["jobs"], dependencies=[Depends(read_access)], responses=ERRORS
)


@router.get("", response_model=Page[JobOut])
def list_jobs(
    *,
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    | None = None,
    kind: str | None = Query(None, max_length=32),
    page: PageDep,
    session: SessionDep,
):
    """List jobs, newest first."""
    result = JobRepository(session).list(
        state=state, kind=kind, limit=page.limit, offset=page.offset
    )
    return Page[JobOut](
        items=[JobOut.model_validate(j) for j in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


@router.get("/{job_id}", response_model=JobDetail)
def get_job(*, job_id: IdPath, session: SessionDep):
    """One job with its log."""
    return JobDetail.model_validate(JobRepository(session).get(job_id))


@router.post(
    "/reprocess",
    response_model=JobOut,
    status_code=202,
    dependencies=[Depends(require_api_key)],
    responses={503: {"model": ErrorEnvelope, "description": "No job runner"}},
)
def submit_reprocess(*, body: ReprocessRequest, request: Request):
    """Queue a reprocessing job for a time range; it runs on the Dask cluster."""
    factory = request.app.state.sessionmaker
    parameters = {
        "start": body.start.isoformat(),
        "end": body.end.isoformat(),
        "options": body.options,
    }
    runner = request.app.state.job_runner
    if isinstance(runner, UnconfiguredJobRunner):
        # refused before a job is recorded (each refusal left a 'failed' job)
        runner.submit(None, "reprocess", parameters)
    with session_scope(factory) as session:
        job_id = JobRepository(session).create("reprocess", parameters=parameters).id
    try:
        key = request.app.state.job_runner.submit(job_id, "reprocess", parameters)
    except Exception as exc:
        with session_scope(factory) as session:
            JobRepository(session).mark_finished(
                job_id, error=f"submission failed: {exc}"
            )
        if isinstance(exc, APIError):
            raise
        raise APIError(
            503, "submission_failed", f"job {job_id} could not be submitted"
        ) from exc
    with session_scope(factory) as session:
        repo = JobRepository(session)
        job = repo.get(job_id)
        if job.state == "queued":
            job = repo.mark_running(job_id, runner_key=key)
        return JobOut.model_validate(job)


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    dependencies=[Depends(require_api_key)],
    responses={409: {"model": ErrorEnvelope, "description": "Job already finished"}},
)
def cancel_job(*, job_id: IdPath, request: Request, session: SessionDep):
    """Cancel a queued or running job."""
    repo = JobRepository(session)
    job = repo.get(job_id)
    if job.state in FINAL_JOB_STATES:
        raise APIError(409, "conflict", f"job {job_id} is already {job.state}")
    request.app.state.job_runner.cancel(job_id, job.runner_key)
    return JobOut.model_validate(repo.cancel(job_id))
