"""Calibration sets and the "which solutions apply to this tile" query."""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from dsa110.db.models import CalibrationSet
from dsa110.db.repositories._common import NotFoundError, Page, as_utc, paginate

__all__ = ["CalibrationRepository", "DEFAULT_VALIDITY", "DEFAULT_MAX_DEC_OFFSET_DEG"]

#: Half-width of a calibration set's validity window around its reference time.
DEFAULT_VALIDITY = _dt.timedelta(hours=12)
#: Largest pointing-declination difference for which solutions are reused.
DEFAULT_MAX_DEC_OFFSET_DEG = 5.0


class CalibrationRepository:
    """Create and look up calibration sets.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def add(
        self,
        name: str,
        *,
        calibrator: str,
        reference_time: _dt.datetime,
        dec_deg: float,
        validity: _dt.timedelta = DEFAULT_VALIDITY,
        valid_start: _dt.datetime | None = None,
        valid_end: _dt.datetime | None = None,
        qa_passed: bool = True,
        qa: dict | None = None,
    ) -> CalibrationSet:
        """Record a set valid ``reference_time ± validity`` (or an explicit window)."""
        reference_time = as_utc(reference_time)
        cal = CalibrationSet(
            name=name,
            calibrator=calibrator,
            reference_time=reference_time,
            valid_start=as_utc(valid_start)
            if valid_start
            else reference_time - validity,
            valid_end=as_utc(valid_end) if valid_end else reference_time + validity,
            dec_deg=float(dec_deg),
            qa_passed=bool(qa_passed),
            qa=qa,
        )
        self.session.add(cal)
        self.session.flush()
        return cal

    def get(self, calibration_set_id: int) -> CalibrationSet:
        """Return one calibration set with its products."""
        cal = self.session.scalar(
            select(CalibrationSet)
            .where(CalibrationSet.id == calibration_set_id)
            .options(selectinload(CalibrationSet.products))
        )
        if cal is None:
            raise NotFoundError("calibration set", calibration_set_id)
        return cal

    def list(
        self,
        *,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        calibrator: str | None = None,
        qa_passed: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """List calibration sets whose validity window overlaps ``[start, end]``."""
        stmt = select(CalibrationSet)
        if start is not None:
            stmt = stmt.where(CalibrationSet.valid_end >= as_utc(start))
        if end is not None:
            stmt = stmt.where(CalibrationSet.valid_start <= as_utc(end))
        if calibrator is not None:
            stmt = stmt.where(CalibrationSet.calibrator == calibrator)
        if qa_passed is not None:
            stmt = stmt.where(CalibrationSet.qa_passed == qa_passed)
        stmt = stmt.order_by(
            CalibrationSet.reference_time.desc(), CalibrationSet.id.desc()
        )
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def find_valid(
        self,
        start_time: _dt.datetime,
        end_time: _dt.datetime | None = None,
        *,
        dec_deg: float,
        max_dec_offset_deg: float = DEFAULT_MAX_DEC_OFFSET_DEG,
        require_qa: bool = True,
    ) -> CalibrationSet | None:
        """Return the newest calibration set valid for a tile, or ``None``.

        Valid means: its validity window covers the whole tile
        ``[start_time, end_time]``, its pointing declination is within
        ``max_dec_offset_deg`` of the tile's, and (by default) it passed QA.

        Parameters
        ----------
        start_time, end_time : datetime
            The tile's time range (``end_time`` defaults to ``start_time``).
        dec_deg : float
            The tile's pointing declination, degrees.
        max_dec_offset_deg : float
            Largest declination difference, degrees (default 5).
        require_qa : bool
            Only consider sets that passed QA.

        Returns
        -------
        CalibrationSet or None
        """
        start = as_utc(start_time)
        end = as_utc(end_time) if end_time is not None else start
        stmt = select(CalibrationSet).where(
            CalibrationSet.valid_start <= start,
            CalibrationSet.valid_end >= end,
            func.abs(CalibrationSet.dec_deg - float(dec_deg))
            <= float(max_dec_offset_deg),
        )
        if require_qa:
            stmt = stmt.where(CalibrationSet.qa_passed.is_(True))
        stmt = stmt.order_by(
            CalibrationSet.reference_time.desc(), CalibrationSet.id.desc()
        )
        return self.session.scalars(stmt.limit(1)).first()
