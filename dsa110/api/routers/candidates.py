"""``/candidates``: ESE and transient candidates, list with presets, review."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query

from dsa110.api.deps import PageDep, SessionDep, utc
from dsa110.api.routers._common import ERRORS, IdPath
from dsa110.api.schemas import CandidateOut, CandidateStatusUpdate, ErrorEnvelope, Page
from dsa110.api.security import read_access, require_api_key
from dsa110.api.serialize import candidate_out
from dsa110.db import CandidateRepository

__all__ = ["router"]

router = APIRouter(
    prefix="/candidates",
    tags=["candidates"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)


@router.get("", response_model=Page[CandidateOut])
def list_candidates(
    *,
    preset: Literal["review", "strong", "recent", "confirmed"] | None = Query(
        None,
        description="review: active; strong: active with score >= 5; "
        "recent: detected in the last 7 days; confirmed: confirmed",
    ),
    kind: Literal["ese", "transient"] | None = None,
    status: Literal["active", "dismissed", "confirmed"] | None = None,
    min_score: float | None = Query(None, allow_inf_nan=False, ge=-1e6, le=1e6),
    since: dt.datetime | None = None,
    source_id: int | None = Query(None, ge=1, le=2**31 - 1),
    page: PageDep,
    session: SessionDep,
):
    """List candidates, highest score first; explicit filters override the preset's."""
    result = CandidateRepository(session).list(
        preset=preset,
        kind=kind,
        status=status,
        min_score=min_score,
        since=utc(since, "since"),
        source_id=source_id,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[CandidateOut](
        items=[candidate_out(c) for c in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


@router.get("/{candidate_id}", response_model=CandidateOut)
def get_candidate(*, candidate_id: IdPath, session: SessionDep):
    """One candidate."""
    return candidate_out(CandidateRepository(session).get(candidate_id))


@router.post(
    "/{candidate_id}/status",
    response_model=CandidateOut,
    dependencies=[Depends(require_api_key)],
    responses={409: {"model": ErrorEnvelope, "description": "Transition not allowed"}},
)
def set_candidate_status(
    *,
    candidate_id: IdPath,
    update: CandidateStatusUpdate,
    session: SessionDep,
):
    """Dismiss, confirm or re-activate a candidate, with a note (needs an API key)."""
    repo = CandidateRepository(session)
    return candidate_out(repo.set_status(candidate_id, update.status, note=update.note))
