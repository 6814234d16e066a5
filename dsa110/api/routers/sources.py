"""``/sources``: list, cone search, detail, light curves (JSON/CSV), variability."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from dsa110.api.deps import PageDep, SessionDep, utc
from dsa110.api.errors import APIError
from dsa110.api.files import attachment
from dsa110.api.routers._common import DEC, ERRORS, RA, IdPath
from dsa110.api.schemas import (
    ConeHit,
    LightCurve,
    MeasurementOut,
    Page,
    SourceOut,
    VariabilityOut,
)
from dsa110.api.security import read_access
from dsa110.db import SourceRepository

__all__ = ["router", "MAX_CONE_RADIUS_DEG", "MAX_LIGHT_CURVE_POINTS"]

#: Largest cone-search radius, degrees.
MAX_CONE_RADIUS_DEG = 10.0
#: Most points a light-curve response holds.
MAX_LIGHT_CURVE_POINTS = 50_000

router = APIRouter(
    prefix="/sources",
    tags=["sources"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)


@router.get("", response_model=Page[SourceOut])
def list_sources(
    *,
    name: str | None = Query(None, max_length=64),
    dec_min: float | None = Query(None, **DEC),
    dec_max: float | None = Query(None, **DEC),
    min_eta: float | None = Query(None, ge=0, allow_inf_nan=False),
    min_modulation_index: float | None = Query(None, ge=0, allow_inf_nan=False),
    page: PageDep,
    session: SessionDep,
):
    """List sources by name; ``min_eta``/``min_modulation_index`` keep variable ones."""
    result = SourceRepository(session).list(
        name=name,
        dec_min=dec_min,
        dec_max=dec_max,
        min_eta=min_eta,
        min_modulation_index=min_modulation_index,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[SourceOut](
        items=[SourceOut.model_validate(s) for s in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


@router.get("/cone", response_model=list[ConeHit])
def cone_search(
    *,
    ra: float = Query(..., **RA),
    dec: float = Query(..., **DEC),
    radius: float = Query(
        ..., gt=0, le=MAX_CONE_RADIUS_DEG, allow_inf_nan=False, description="degrees"
    ),
    limit: int = Query(100, ge=1, le=1000),
    session: SessionDep,
):
    """Find sources within ``radius`` degrees of (``ra``, ``dec``), nearest first."""
    hits = SourceRepository(session).cone_search(ra, dec, radius, limit=limit)
    return [
        ConeHit(source=SourceOut.model_validate(s), separation_deg=d) for s, d in hits
    ]


@router.get("/{source_id}", response_model=SourceOut)
def get_source(*, source_id: IdPath, session: SessionDep):
    """One source with its variability statistics."""
    return SourceOut.model_validate(SourceRepository(session).get(source_id))


@router.get(
    "/{source_id}/lightcurve",
    response_model=LightCurve,
    responses={200: {"content": {"text/csv": {}}}},
)
def light_curve(
    *,
    source_id: IdPath,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    include_flagged: bool = False,
    format: Literal["json", "csv"] = "json",
    session: SessionDep,
):
    """Return a source's light curve in time order, as JSON or CSV."""
    repo = SourceRepository(session)
    source = repo.get(source_id)
    points = repo.light_curve(
        source_id,
        start=utc(start, "start"),
        end=utc(end, "end"),
        include_flagged=include_flagged,
        limit=MAX_LIGHT_CURVE_POINTS + 1,
    )
    # more than the cap: the oldest are returned, and said to be only those
    truncated = len(points) > MAX_LIGHT_CURVE_POINTS
    rows = [MeasurementOut.model_validate(p) for p in points[:MAX_LIGHT_CURVE_POINTS]]
    if format == "csv":
        buf = io.StringIO()
        fields = list(MeasurementOut.model_fields)
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            data = row.model_dump()
            data["time"] = row.time.isoformat()
            writer.writerow(data)
        return Response(
            buf.getvalue(),
            media_type="text/csv",
            headers={
                "Content-Disposition": attachment(f"{source.name}.csv"),
                "X-Truncated": "true" if truncated else "false",
            },
        )
    return LightCurve(
        source_id=source.id, name=source.name, points=rows, truncated=truncated
    )


@router.get("/{source_id}/variability", response_model=VariabilityOut)
def variability(*, source_id: IdPath, session: SessionDep):
    """Return a source's variability statistics (404 before they are computed)."""
    source = SourceRepository(session).get(source_id)
    if source.variability is None:
        raise APIError(
            404, "not_found", f"source {source_id} has no variability statistics yet"
        )
    return VariabilityOut.model_validate(source.variability)
