"""``/calibration-sets``: list, validity windows, QA, solution plots."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request

from dsa110.api.deps import PageDep, SessionDep, utc
from dsa110.api.errors import APIError
from dsa110.api.files import serve_product
from dsa110.api.routers._common import ERRORS, IdPath
from dsa110.api.schemas import (
    CalibrationSetDetail,
    CalibrationSetOut,
    Page,
    ProductOut,
    ValidityWindow,
)
from dsa110.api.security import read_access
from dsa110.api.serialize import product_out
from dsa110.db import CalibrationRepository

__all__ = ["router"]

router = APIRouter(
    prefix="/calibration-sets",
    tags=["calibration"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)


@router.get("", response_model=Page[CalibrationSetOut])
def list_calibration_sets(
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    calibrator: str | None = Query(None, max_length=64),
    qa_passed: bool | None = None,
    page: PageDep,
    session: SessionDep,
):
    """List calibration sets valid at some time in ``[start, end]``, newest first."""
    result = CalibrationRepository(session).list(
        start=utc(start, "start"),
        end=utc(end, "end"),
        calibrator=calibrator,
        qa_passed=qa_passed,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[CalibrationSetOut](
        items=[CalibrationSetOut.model_validate(c) for c in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


@router.get("/validity", response_model=list[ValidityWindow])
def validity_windows(
    *,
    start: dt.datetime,
    end: dt.datetime,
    session: SessionDep,
):
    """List validity windows overlapping ``[start, end]`` (at most 1000)."""
    start_utc, end_utc = utc(start, "start"), utc(end, "end")
    if end_utc < start_utc:
        raise APIError(422, "validation_error", "end must not be before start")
    result = CalibrationRepository(session).list(
        start=start_utc, end=end_utc, limit=1000
    )
    return [ValidityWindow.model_validate(c) for c in result.items]


@router.get("/{calibration_set_id}", response_model=CalibrationSetDetail)
def get_calibration_set(*, calibration_set_id: IdPath, session: SessionDep):
    """One calibration set with its QA record and solution products."""
    cal = CalibrationRepository(session).get(calibration_set_id)
    return CalibrationSetDetail(
        **CalibrationSetOut.model_validate(cal).model_dump(),
        qa=cal.qa,
        products=[product_out(p) for p in cal.products],
    )


@router.get("/{calibration_set_id}/plots", response_model=list[ProductOut])
def list_plots(*, calibration_set_id: IdPath, session: SessionDep):
    """List the solution plots of a calibration set."""
    cal = CalibrationRepository(session).get(calibration_set_id)
    return [product_out(p) for p in cal.products if p.kind == "plot"]


@router.get(
    "/{calibration_set_id}/plots/{plot_id}",
    responses={
        200: {"content": {"image/png": {}}},
        304: {"description": "Not modified"},
    },
)
def get_plot(
    *,
    calibration_set_id: IdPath,
    plot_id: IdPath,
    request: Request,
    session: SessionDep,
):
    """One solution plot (PNG), by its product id."""
    cal = CalibrationRepository(session).get(calibration_set_id)
    plot = next((p for p in cal.products if p.kind == "plot" and p.id == plot_id), None)
    if plot is None:
        raise APIError(
            404,
            "not_found",
            f"calibration set {calibration_set_id} has no plot {plot_id}",
        )
    return serve_product(request, plot, "image/png")
