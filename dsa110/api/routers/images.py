"""``/images``, ``/mosaics``, ``/coverage``: metadata, FITS, PNG, cutouts, coverage."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from dsa110.api.deps import PageDep, SessionDep, utc
from dsa110.api.files import render_cutout, render_preview, serve_product
from dsa110.api.routers._common import DEC, ERRORS, RA, IdPath
from dsa110.api.schemas import ImageOut, MosaicDetail, Page
from dsa110.api.security import read_access
from dsa110.api.serialize import image_out
from dsa110.db import ImageRepository

__all__ = ["router", "mosaics", "coverage"]

_FILE_RESPONSES = {
    200: {"content": {"application/fits": {}}, "description": "The FITS file"},
    304: {"description": "Not modified (ETag matched)"},
}
_PNG_RESPONSES = {
    200: {"content": {"image/png": {}}, "description": "A PNG rendering"},
    304: {"description": "Not modified (ETag matched)"},
}

router = APIRouter(
    prefix="/images",
    tags=["images"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)
mosaics = APIRouter(
    prefix="/mosaics",
    tags=["mosaics"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)
coverage = APIRouter(
    prefix="/coverage",
    tags=["mosaics"],
    dependencies=[Depends(read_access)],
    responses=ERRORS,
)


def _page(result) -> Page[ImageOut]:
    return Page[ImageOut](
        items=[image_out(i) for i in result.items],
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


def _list(kind, start, end, dec_min, dec_max, page, session):
    return _page(
        ImageRepository(session).list(
            kind=kind,
            start=utc(start, "start"),
            end=utc(end, "end"),
            dec_min=dec_min,
            dec_max=dec_max,
            limit=page.limit,
            offset=page.offset,
        )
    )


@router.get("", response_model=Page[ImageOut])
def list_images(
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    dec_min: float | None = Query(None, **DEC),
    dec_max: float | None = Query(None, **DEC),
    page: PageDep,
    session: SessionDep,
):
    """List tile images, newest first."""
    return _list("tile", start, end, dec_min, dec_max, page, session)


@router.get("/{image_id}", response_model=ImageOut)
def get_image(*, image_id: IdPath, session: SessionDep):
    """One image's metadata."""
    return image_out(ImageRepository(session).get(image_id, kind="tile"))


def _preview_size():
    return Query(512, ge=16, le=2048, description="longest side, pixels")


def _files(image_router: APIRouter, kind: str, name: str) -> None:
    """Add ``/{id}/fits``, ``/{id}/preview.png`` and ``/{id}/cutout`` for one kind."""

    @image_router.get(
        "/{image_id}/fits", responses=_FILE_RESPONSES, name=f"{name}_fits"
    )
    def fits_file(*, image_id: IdPath, request: Request, session: SessionDep):
        """Download the FITS file (ETag = its SHA-256; immutable, cacheable)."""
        image = ImageRepository(session).get(image_id, kind=kind)
        return serve_product(request, image.product, "application/fits")

    @image_router.get(
        "/{image_id}/preview.png", responses=_PNG_RESPONSES, name=f"{name}_preview"
    )
    def preview(
        *,
        image_id: IdPath,
        request: Request,
        size: int = _preview_size(),
        session: SessionDep,
    ):
        """Render a PNG preview, at most ``size`` pixels on a side."""
        image = ImageRepository(session).get(image_id, kind=kind)
        return render_preview(request, image.product, size=size)

    @image_router.get(
        "/{image_id}/cutout",
        responses={200: {"content": {"application/fits": {}, "image/png": {}}}},
        name=f"{name}_cutout",
    )
    def cutout(
        *,
        image_id: IdPath,
        request: Request,
        ra: float = Query(..., **RA),
        dec: float = Query(..., **DEC),
        size_arcmin: float = Query(10.0, gt=0, le=600, allow_inf_nan=False),
        format: Literal["fits", "png"] = "fits",
        session: SessionDep,
    ):
        """Cut out a stamp (FITS or PNG) of ``size_arcmin`` around (``ra``, ``dec``)."""
        image = ImageRepository(session).get(image_id, kind=kind)
        return render_cutout(
            request,
            image.product,
            ra_deg=ra,
            dec_deg=dec,
            size_arcmin=size_arcmin,
            fmt=format,
        )


_files(router, "tile", "image")


@mosaics.get("", response_model=Page[ImageOut])
def list_mosaics(
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    dec_min: float | None = Query(None, **DEC),
    dec_max: float | None = Query(None, **DEC),
    page: PageDep,
    session: SessionDep,
):
    """List mosaics, newest first."""
    return _list("mosaic", start, end, dec_min, dec_max, page, session)


@mosaics.get("/{image_id}", response_model=MosaicDetail)
def get_mosaic(*, image_id: IdPath, session: SessionDep):
    """One mosaic and the tile images it was made of."""
    repo = ImageRepository(session)
    mosaic = repo.get(image_id, kind="mosaic")
    return MosaicDetail(
        **image_out(mosaic).model_dump(),
        members=[image_out(i) for i in repo.members(mosaic.id)],
    )


_files(mosaics, "mosaic", "mosaic")


@coverage.get("", response_model=list[ImageOut])
def images_covering(
    *,
    ra: float = Query(..., **RA),
    dec: float = Query(..., **DEC),
    kind: Literal["tile", "mosaic"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    session: SessionDep,
):
    """Which images (and mosaics) cover this position, newest first."""
    return [
        image_out(i)
        for i in ImageRepository(session).covering(ra, dec, kind=kind, limit=limit)
    ]
