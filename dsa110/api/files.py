"""Serving registered product files: FITS downloads, PNG previews and cutouts.

A request names a database id, never a path. The product's stored path must
resolve (symlinks followed) to a regular file inside the configured data
directory, or the answer is 404 and nothing is read.
"""

from __future__ import annotations

import io
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response

from dsa110.api.errors import APIError
from dsa110.db import models

__all__ = [
    "IMMUTABLE_CACHE",
    "attachment",
    "resolve_product_file",
    "serve_product",
    "not_modified",
    "render_preview",
    "render_cutout",
]

#: Cache-Control of immutable products (a product's file never changes once registered).
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


def resolve_product_file(request: Request, product: models.Product) -> Path:
    """Return the product's file, checked to lie inside the data directory.

    Raises
    ------
    APIError
        404 when the file is outside the data directory, missing, or not a
        file; 500 ``corrupt_product`` when its size is not the one recorded (a
        truncated file was served whole, with the recorded checksum as ETag
        and an immutable cache).
    """
    root = Path(request.app.state.settings.data_dir).resolve()
    try:
        path = Path(product.path).resolve(strict=True)
    except (OSError, RuntimeError):
        raise APIError(
            404, "not_found", f"the file of product {product.id} is missing"
        ) from None
    if not path.is_relative_to(root) or not path.is_file():
        raise APIError(
            404, "not_found", f"the file of product {product.id} is not available"
        )
    size = path.stat().st_size
    if product.size_bytes is not None and size != product.size_bytes:
        raise APIError(
            500,
            "corrupt_product",
            f"the file of product {product.id} has {size} bytes, "
            f"{product.size_bytes} were recorded",
        )
    return path


def _etag(product: models.Product, variant: str = "") -> str | None:
    if not product.checksum:
        return None
    return f'"{product.checksum}{("-" + variant) if variant else ""}"'


def not_modified(request: Request, etag: str | None) -> bool:
    """Whether the client's ``If-None-Match`` matches ``etag``.

    By the weak comparison RFC 9110 prescribes for it: ``W/"x"`` matches
    ``"x"`` (a weak tag, as proxies rewrite them, got a 200).
    """
    if etag is None:
        return False
    header = request.headers.get("if-none-match", "")
    return any(
        tag.strip().removeprefix("W/") in (etag, "*") for tag in header.split(",")
    )


def _cache_headers(etag: str | None) -> dict:
    headers = {"Cache-Control": IMMUTABLE_CACHE}
    if etag:
        headers["ETag"] = etag
    return headers


def serve_product(
    request: Request, product: models.Product, media_type: str
) -> Response:
    """Stream a product's file with ETag and Cache-Control (304 when unchanged)."""
    path = resolve_product_file(request, product)
    etag = _etag(product)
    if not_modified(request, etag):
        return Response(status_code=304, headers=_cache_headers(etag))
    return FileResponse(
        path, media_type=media_type, filename=path.name, headers=_cache_headers(etag)
    )


def _read_fits_image(path: Path):
    from astropy.io import fits  # deferred: only image routes need astropy.io.fits
    from astropy.wcs import WCS  # deferred: as above

    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next(
                (h for h in hdul if h.data is not None and h.data.ndim >= 2), None
            )
            if hdu is None:
                raise ValueError("no image data")
            data = hdu.data
            while data.ndim > 2:
                data = data[0]
            wcs = WCS(hdu.header).celestial
            return data.astype("float32"), wcs
    except Exception as exc:
        raise APIError(
            500, "corrupt_product", f"the image file {path.name} cannot be read: {exc}"
        ) from exc


def _png(data, *, vmin=None, vmax=None) -> bytes:
    import numpy as np  # deferred: rendering only
    from matplotlib import image as mpimg  # deferred: matplotlib is slow to import

    finite = np.isfinite(data)
    if vmin is None or vmax is None:
        if finite.any():
            vmin, vmax = np.percentile(data[finite], [0.5, 99.5])
        else:
            vmin, vmax = 0.0, 1.0
    if not vmax > vmin:
        vmax = vmin + 1.0
    scaled = np.clip((np.where(finite, data, vmin) - vmin) / (vmax - vmin), 0, 1)
    buf = io.BytesIO()
    mpimg.imsave(
        buf, scaled, cmap="inferno", origin="lower", format="png", vmin=0, vmax=1
    )
    return buf.getvalue()


def attachment(filename: str) -> str:
    """Return a ``Content-Disposition: attachment`` value for any name (RFC 6266).

    An ASCII ``filename`` (other characters, quotes and backslashes replaced
    by ``_``) and the exact name as UTF-8 in ``filename*``: a source named
    with non-Latin-1 characters made the header unencodable (a 500), one
    with a quote broke it.
    """
    from urllib.parse import quote

    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
        for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def render_preview(request: Request, product: models.Product, *, size: int) -> Response:
    """Render a PNG preview at most ``size`` pixels on a side (ETag per size)."""
    path = resolve_product_file(request, product)
    etag = _etag(product, f"png{size}")
    if not_modified(request, etag):
        return Response(status_code=304, headers=_cache_headers(etag))
    data, _ = _read_fits_image(path)
    step = max(1, -(-max(data.shape) // size))
    return Response(
        _png(data[::step, ::step]), media_type="image/png", headers=_cache_headers(etag)
    )


def render_cutout(
    request: Request,
    product: models.Product,
    *,
    ra_deg: float,
    dec_deg: float,
    size_arcmin: float,
    fmt: str,
) -> Response:
    """Cut out a FITS or PNG stamp around a position (422 outside the image)."""
    from astropy import units as u  # deferred: image routes only
    from astropy.coordinates import SkyCoord  # deferred: as above
    from astropy.io import fits  # deferred: as above
    from astropy.nddata import Cutout2D, NoOverlapError  # deferred: as above

    path = resolve_product_file(request, product)
    data, wcs = _read_fits_image(path)
    position = SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame="icrs")
    try:
        cut = Cutout2D(data, position, size_arcmin * u.arcmin, wcs=wcs, mode="trim")
    except (NoOverlapError, ValueError) as exc:
        raise APIError(
            422,
            "outside_image",
            "the position lies outside the image",
            {"ra_deg": ra_deg, "dec_deg": dec_deg},
        ) from exc
    if 0 in cut.data.shape:
        # smaller than a pixel: a 0 x 0 FITS, and a 500 from the PNG writer
        raise APIError(
            422,
            "validation_error",
            "the cutout is smaller than one pixel",
            [
                {
                    "loc": ["query", "size_arcmin"],
                    "msg": "at least one pixel",
                    "type": "greater_than",
                }
            ],
        )
    if fmt == "png":
        return Response(_png(cut.data), media_type="image/png")
    buf = io.BytesIO()
    fits.PrimaryHDU(cut.data, header=cut.wcs.to_header()).writeto(buf)
    return Response(
        buf.getvalue(),
        media_type="application/fits",
        headers={"Content-Disposition": attachment(f"cutout_{product.id}.fits")},
    )
