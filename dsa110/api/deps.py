"""FastAPI dependencies: database sessions, pagination, UTC times."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from dsa110.api.errors import APIError

__all__ = [
    "get_session",
    "Pagination",
    "pagination",
    "utc",
    "MAX_ID",
    "SessionDep",
    "PageDep",
    "known_query_parameters",
]

#: Largest resource id accepted in a path (ids are 32-bit on every backend).
MAX_ID = 2**31 - 1


def get_session(request: Request):
    """Yield a session; commit after the route returns, roll back on error.

    Used with ``scope="function"`` (:data:`SessionDep`): the commit finishes
    before the response is sent, so a client that has its answer reads what it
    wrote, and a failed commit is an error response, not a lost write.

    The connection is given back after the response is serialized (in the
    thread pool, for a sync route): the application admits no more requests
    at once than the pool has connections (:func:`dsa110.api.create_app`).
    """
    session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@dataclasses.dataclass(frozen=True)
class Pagination:
    """A page window."""

    limit: int
    offset: int


def pagination(
    request: Request,
    limit: int = Query(
        100, ge=1, le=10_000, description="page size (capped by the server)"
    ),
    offset: int = Query(0, ge=0, le=10_000_000, description="rows to skip"),
) -> Pagination:
    """Read ``limit``/``offset``; a limit above the server's maximum is a 422."""
    max_size = request.app.state.settings.max_page_size
    if limit > max_size:
        raise APIError(
            422,
            "validation_error",
            f"limit may be at most {max_size}",
            [
                {
                    "loc": ["query", "limit"],
                    "msg": f"at most {max_size}",
                    "type": "less_than_equal",
                }
            ],
        )
    return Pagination(limit=limit, offset=offset)


def _query_names(dependant) -> frozenset:
    """Names of the query parameters a route and its dependencies read."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def known_query_parameters(request: Request) -> None:
    """Refuse query parameters the route does not read (a 422 naming them).

    A misspelt filter (``?limt=5``, ``?dec_mn=30``) was ignored: the client
    got the unfiltered answer as if it were the one asked for.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise APIError(
            422,
            "validation_error",
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: "
            + ", ".join(unknown)
            + (f" (this route reads {', '.join(sorted(known))})" if known else ""),
            [
                {
                    "loc": ["query", name],
                    "msg": "unknown parameter",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ],
        )


def utc(value: dt.datetime | None, field: str = "time") -> dt.datetime | None:
    """Return ``value`` as aware UTC (naive is UTC); out-of-range values are a 422."""
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:
        raise APIError(
            422,
            "validation_error",
            f"{field} is out of range",
            [{"loc": ["query", field], "msg": str(exc), "type": "value_error"}],
        ) from exc


#: A database session for one request, committed before the response is sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
#: The ``limit``/``offset`` window of a list route.
PageDep = Annotated[Pagination, Depends(pagination)]
