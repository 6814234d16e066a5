"""Pieces shared by the repositories: pages, validation, time and sky helpers."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dsa110.errors import DSA110Error

__all__ = [
    "NotFoundError",
    "InvalidStateError",
    "Page",
    "paginate",
    "check_choice",
    "as_utc",
    "angular_separation_deg",
    "dec_box",
]


class NotFoundError(DSA110Error, LookupError):
    """A requested row does not exist."""

    def __init__(self, what: str, key):
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} not found")


class InvalidStateError(DSA110Error, ValueError):
    """A value or state transition that the data model does not allow."""


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of query results.

    Attributes
    ----------
    items : list
        The rows of this page.
    total : int
        Number of rows matching the query (all pages).
    limit, offset : int
        The page window.
    """

    items: list
    total: int
    limit: int
    offset: int


def paginate(session: Session, stmt: Select, *, limit: int, offset: int) -> Page:
    """Run ``stmt`` for one page and count every match."""
    if limit < 0 or offset < 0:
        raise InvalidStateError(f"limit and offset must be >= 0, got {limit}, {offset}")
    total = session.scalar(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    )
    items = list(session.scalars(stmt.limit(limit).offset(offset)))
    return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


def check_choice(field: str, value: str, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is in ``allowed``, else raise InvalidStateError."""
    if value not in allowed:
        raise InvalidStateError(
            f"{field} must be one of {', '.join(allowed)}; got {value!r}"
        )
    return value


def as_utc(value: _dt.datetime) -> _dt.datetime:
    """Return a timezone-aware UTC datetime (naive input is taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC)


def angular_separation_deg(ra1, dec1, ra2, dec2) -> float:
    """Great-circle distance in degrees (Vincenty formula; all angles in degrees)."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = math.hypot(
        math.cos(dec2) * math.sin(dra),
        math.cos(dec1) * math.sin(dec2)
        - math.sin(dec1) * math.cos(dec2) * math.cos(dra),
    )
    den = math.sin(dec1) * math.sin(dec2) + math.cos(dec1) * math.cos(dec2) * math.cos(
        dra
    )
    return math.degrees(math.atan2(num, den))


def dec_box(dec_deg: float, radius_deg: float) -> tuple[float, float]:
    """Return the declination range holding every point within a radius."""
    return max(-90.0, dec_deg - radius_deg), min(90.0, dec_deg + radius_deg)
