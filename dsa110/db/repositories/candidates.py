"""ESE and transient candidates and their review (dismiss, confirm)."""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dsa110.db.models import CANDIDATE_KINDS, CANDIDATE_STATES, Candidate, utcnow
from dsa110.db.repositories._common import (
    InvalidStateError,
    NotFoundError,
    Page,
    as_utc,
    check_choice,
    paginate,
)

__all__ = ["CandidateRepository", "CANDIDATE_PRESETS"]

#: Named filter presets for the candidate list: name -> (status, min_score, max age).
CANDIDATE_PRESETS = {
    "review": ("active", None, None),
    "strong": ("active", 5.0, None),
    "recent": (None, None, _dt.timedelta(days=7)),
    "confirmed": ("confirmed", None, None),
}


class CandidateRepository:
    """Create, list and review candidates.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def add(
        self,
        source_id: int,
        *,
        score: float,
        time_start: _dt.datetime,
        time_end: _dt.datetime,
        kind: str = "ese",
        details: dict | None = None,
        detected_at: _dt.datetime | None = None,
    ) -> Candidate:
        """Record an active candidate for a source."""
        check_choice("kind", kind, CANDIDATE_KINDS)
        cand = Candidate(
            source_id=source_id,
            kind=kind,
            status="active",
            score=float(score),
            time_start=as_utc(time_start),
            time_end=as_utc(time_end),
            details=details,
            detected_at=as_utc(detected_at) if detected_at else utcnow(),
        )
        self.session.add(cand)
        self.session.flush()
        return cand

    def get(self, candidate_id: int) -> Candidate:
        """Return one candidate with its source."""
        cand = self.session.scalar(
            select(Candidate)
            .where(Candidate.id == candidate_id)
            .options(selectinload(Candidate.source))
        )
        if cand is None:
            raise NotFoundError("candidate", candidate_id)
        return cand

    def list(
        self,
        *,
        preset: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        min_score: float | None = None,
        since: _dt.datetime | None = None,
        source_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
        now: _dt.datetime | None = None,
    ) -> Page:
        """List candidates, highest score first; a preset fills unset filters."""
        if preset is not None:
            p_status, p_score, p_age = CANDIDATE_PRESETS[
                check_choice("preset", preset, tuple(CANDIDATE_PRESETS))
            ]
            status = status if status is not None else p_status
            min_score = min_score if min_score is not None else p_score
            if since is None and p_age is not None:
                since = (now or utcnow()) - p_age
        stmt = select(Candidate).options(selectinload(Candidate.source))
        if kind is not None:
            stmt = stmt.where(
                Candidate.kind == check_choice("kind", kind, CANDIDATE_KINDS)
            )
        if status is not None:
            stmt = stmt.where(
                Candidate.status == check_choice("status", status, CANDIDATE_STATES)
            )
        if min_score is not None:
            stmt = stmt.where(Candidate.score >= min_score)
        if since is not None:
            stmt = stmt.where(Candidate.detected_at >= as_utc(since))
        if source_id is not None:
            stmt = stmt.where(Candidate.source_id == source_id)
        stmt = stmt.order_by(Candidate.score.desc(), Candidate.id)
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def set_status(
        self, candidate_id: int, status: str, *, note: str | None = None
    ) -> Candidate:
        """Dismiss, confirm or re-activate a candidate, keeping a note.

        Raises
        ------
        InvalidStateError
            For an unknown status, or confirming a dismissed candidate.
        """
        check_choice("status", status, CANDIDATE_STATES)
        cand = self.get(candidate_id)
        if cand.status == "dismissed" and status == "confirmed":
            raise InvalidStateError(
                f"candidate {candidate_id} is dismissed; "
                "set it active before confirming it"
            )
        cand.status = status
        if note is not None:
            cand.note = note
        cand.updated_at = utcnow()
        self.session.flush()
        return cand
