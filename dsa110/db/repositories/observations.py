"""Observations (groups) and their raw subband files."""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dsa110.db.models import OBSERVATION_STATES, Observation, ObservationFile
from dsa110.db.repositories._common import (
    NotFoundError,
    Page,
    as_utc,
    check_choice,
    paginate,
)

__all__ = ["ObservationRepository"]


class ObservationRepository:
    """Create, find and update observation groups.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def add(
        self,
        group_id: str,
        *,
        start_time: _dt.datetime,
        end_time: _dt.datetime,
        dec_deg: float,
        ra_deg: float | None = None,
        status: str = "incomplete",
        qa: dict | None = None,
    ) -> Observation:
        """Register an observation group and return it (flushed, with an id)."""
        check_choice("status", status, OBSERVATION_STATES)
        obs = Observation(
            group_id=group_id,
            start_time=as_utc(start_time),
            end_time=as_utc(end_time),
            dec_deg=float(dec_deg),
            ra_deg=None if ra_deg is None else float(ra_deg),
            status=status,
            qa=qa,
        )
        self.session.add(obs)
        self.session.flush()
        return obs

    def add_file(
        self,
        observation: Observation,
        path: str,
        *,
        subband: int,
        start_time: _dt.datetime,
        size_bytes: int | None = None,
        checksum: str | None = None,
    ) -> ObservationFile:
        """Register one subband file of ``observation`` and update its file count."""
        row = ObservationFile(
            path=str(path),
            subband=int(subband),
            start_time=as_utc(start_time),
            size_bytes=size_bytes,
            checksum=checksum,
        )
        observation.files.append(row)
        observation.n_files = len(observation.files)
        self.session.flush()
        return row

    def get(self, observation_id: int) -> Observation:
        """Return one observation with its files and products loaded."""
        obs = self.session.scalar(
            select(Observation)
            .where(Observation.id == observation_id)
            .options(
                selectinload(Observation.files), selectinload(Observation.products)
            )
        )
        if obs is None:
            raise NotFoundError("observation", observation_id)
        return obs

    def get_by_group(self, group_id: str) -> Observation:
        """Return the observation whose group id is ``group_id``."""
        obs = self.session.scalar(
            select(Observation).where(Observation.group_id == group_id)
        )
        if obs is None:
            raise NotFoundError("observation group", group_id)
        return obs

    def list(
        self,
        *,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        dec_min: float | None = None,
        dec_max: float | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """List observations overlapping ``[start, end]``, newest first."""
        stmt = select(Observation)
        if start is not None:
            stmt = stmt.where(Observation.end_time >= as_utc(start))
        if end is not None:
            stmt = stmt.where(Observation.start_time <= as_utc(end))
        if dec_min is not None:
            stmt = stmt.where(Observation.dec_deg >= dec_min)
        if dec_max is not None:
            stmt = stmt.where(Observation.dec_deg <= dec_max)
        if status is not None:
            stmt = stmt.where(
                Observation.status == check_choice("status", status, OBSERVATION_STATES)
            )
        stmt = stmt.order_by(Observation.start_time.desc(), Observation.id.desc())
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def set_status(
        self, observation_id: int, status: str, *, qa: dict | None = None
    ) -> Observation:
        """Change an observation's status (and optionally replace its QA record)."""
        obs = self.get(observation_id)
        obs.status = check_choice("status", status, OBSERVATION_STATES)
        if qa is not None:
            obs.qa = qa
        self.session.flush()
        return obs
