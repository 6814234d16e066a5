"""``/observations``: list with filters, detail with files, products, images and QA."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query

from dsa110.api.deps import PageDep, SessionDep, utc
from dsa110.api.routers._common import ERRORS, IdPath
from dsa110.api.schemas import ObservationDetail, ObservationOut, Page, ProductOut
from dsa110.api.security import read_access
from dsa110.api.serialize import file_out, image_out, product_out
from dsa110.db import ImageRepository, ObservationRepository, ProductRepository

__all__ = ["router"]

router = APIRouter(
    prefix="/observations",
    tags=["observations"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)

ObservationStatus = Literal[
    "incomplete", "complete", "processing", "processed", "failed"
]


@router.get("", response_model=Page[ObservationOut])
def list_observations(
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    dec_min: float | None = Query(None, ge=-90, le=90, allow_inf_nan=False),
    dec_max: float | None = Query(None, ge=-90, le=90, allow_inf_nan=False),
    status: ObservationStatus | None = None,
    page: PageDep,
    session: SessionDep,
):
    """List observation groups overlapping ``[start, end]``, newest first."""
    result = ObservationRepository(session).list(
        start=utc(start, "start"),
        end=utc(end, "end"),
        dec_min=dec_min,
        dec_max=dec_max,
        status=status,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[ObservationOut](
        items=[ObservationOut.model_validate(o) for o in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


@router.get("/{observation_id}", response_model=ObservationDetail)
def get_observation(*, observation_id: IdPath, session: SessionDep):
    """One observation with its raw files, products, images and QA record."""
    obs = ObservationRepository(session).get(observation_id)
    images = ImageRepository(session).list(kind=None, observation_id=obs.id, limit=1000)
    return ObservationDetail(
        **ObservationOut.model_validate(obs).model_dump(),
        qa=obs.qa,
        files=[file_out(f) for f in obs.files],
        products=[product_out(p) for p in obs.products],
        images=[image_out(i) for i in images.items],
    )


products = APIRouter(
    prefix="/products",
    tags=["products"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)


@products.get("/{product_id}", response_model=ProductOut)
def get_product(*, product_id: IdPath, session: SessionDep):
    """Return a product's metadata and provenance (inputs, parameters, code version)."""
    return product_out(ProductRepository(session).get(product_id), with_provenance=True)
