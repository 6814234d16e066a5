"""Products (files the pipeline wrote), their provenance, and image metadata."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dsa110.db.models import (
    IMAGE_KINDS,
    PRODUCT_KINDS,
    Image,
    MosaicMember,
    Product,
    Provenance,
    ProvenanceInput,
)
from dsa110.db.repositories._common import (
    NotFoundError,
    Page,
    angular_separation_deg,
    as_utc,
    check_choice,
    dec_box,
    paginate,
)

__all__ = ["ProductRepository", "ImageRepository", "file_sha256", "path_size"]


def file_sha256(path, *, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, or of a directory tree."""
    path = Path(path)
    digest = hashlib.sha256()
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    )
    for item in files:
        if path.is_dir():
            digest.update(str(item.relative_to(path)).encode())
        with open(item, "rb") as fh:
            while block := fh.read(chunk_size):
                digest.update(block)
    return digest.hexdigest()


def path_size(path) -> int:
    """Size in bytes of a file, or the sum over a directory tree."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class ProductRepository:
    """Register products with their checksum, size and provenance.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def register(
        self,
        kind: str,
        path,
        *,
        code_version: str,
        parameters: dict | None = None,
        inputs_products=(),
        inputs_files=(),
        job_id: int | None = None,
        observation_id: int | None = None,
        calibration_set_id: int | None = None,
        checksum: str | None = None,
        size_bytes: int | None = None,
    ) -> Product:
        """Record a product and how it was made.

        Parameters
        ----------
        kind : str
            One of :data:`dsa110.db.models.PRODUCT_KINDS`.
        path : str or Path
            Where the product lies; stored as an absolute path. When it exists,
            its size and SHA-256 are computed unless given.
        code_version : str
            Version of ``dsa110`` (or a git hash) that produced it.
        parameters : dict, optional
            The parameters of the step (JSON-serialisable).
        inputs_products, inputs_files : sequence of int
            Ids of the products and raw observation files it was made from.
        job_id, observation_id, calibration_set_id : int, optional
            Links to the job, observation and calibration set.
        checksum, size_bytes : optional
            Precomputed checksum and size.

        Returns
        -------
        Product
        """
        check_choice("kind", kind, PRODUCT_KINDS)
        path = Path(os.path.abspath(Path(path).expanduser()))
        if path.exists():
            checksum = checksum or file_sha256(path)
            size_bytes = size_bytes if size_bytes is not None else path_size(path)
        product = Product(
            kind=kind,
            path=str(path),
            checksum=checksum,
            size_bytes=size_bytes,
            observation_id=observation_id,
            calibration_set_id=calibration_set_id,
        )
        product.provenance = Provenance(
            code_version=code_version,
            parameters=parameters,
            job_id=job_id,
            inputs=[ProvenanceInput(input_product_id=int(i)) for i in inputs_products]
            + [ProvenanceInput(input_file_id=int(i)) for i in inputs_files],
        )
        self.session.add(product)
        self.session.flush()
        return product

    def get(self, product_id: int) -> Product:
        """Return one product with its provenance."""
        product = self.session.scalar(
            select(Product)
            .where(Product.id == product_id)
            .options(selectinload(Product.provenance).selectinload(Provenance.inputs))
        )
        if product is None:
            raise NotFoundError("product", product_id)
        return product

    def get_by_path(self, path) -> Product:
        """Return the product registered at ``path``."""
        key = str(Path(os.path.abspath(Path(path).expanduser())))
        product = self.session.scalar(select(Product).where(Product.path == key))
        if product is None:
            raise NotFoundError("product", key)
        return product

    def list(
        self,
        *,
        kind: str | None = None,
        observation_id: int | None = None,
        calibration_set_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """List products, newest first."""
        stmt = select(Product)
        if kind is not None:
            stmt = stmt.where(Product.kind == check_choice("kind", kind, PRODUCT_KINDS))
        if observation_id is not None:
            stmt = stmt.where(Product.observation_id == observation_id)
        if calibration_set_id is not None:
            stmt = stmt.where(Product.calibration_set_id == calibration_set_id)
        stmt = stmt.order_by(Product.created_at.desc(), Product.id.desc())
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def lineage(self, product_id: int) -> list[Product]:
        """Every product upstream of ``product_id`` (breadth first, without repeats)."""
        seen: dict[int, Product] = {}
        queue = [product_id]
        while queue:
            current = self.get(queue.pop(0))
            if current.provenance is None:
                continue
            for item in current.provenance.inputs:
                pid = item.input_product_id
                if pid is not None and pid not in seen:
                    seen[pid] = self.get(pid)
                    queue.append(pid)
        return list(seen.values())


class ImageRepository:
    """Image and mosaic metadata, sky coverage queries.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The session to work in; the caller commits.
    """

    def __init__(self, session: Session):
        self.session = session

    def add(
        self,
        product: Product,
        *,
        name: str,
        obs_time: _dt.datetime,
        ra_deg: float,
        dec_deg: float,
        radius_deg: float,
        n_x: int,
        n_y: int,
        cell_arcsec: float,
        frequency_hz: float,
        bandwidth_hz: float,
        kind: str = "tile",
        observation_id: int | None = None,
        rms_jy: float | None = None,
        beam_major_arcsec: float | None = None,
        beam_minor_arcsec: float | None = None,
        beam_pa_deg: float | None = None,
        members=(),
    ) -> Image:
        """Record an image (``kind="tile"``) or mosaic (with its member image ids)."""
        check_choice("kind", kind, IMAGE_KINDS)
        image = Image(
            product_id=product.id,
            observation_id=observation_id,
            kind=kind,
            name=name,
            obs_time=as_utc(obs_time),
            ra_deg=float(ra_deg) % 360.0,
            dec_deg=float(dec_deg),
            radius_deg=float(radius_deg),
            n_x=int(n_x),
            n_y=int(n_y),
            cell_arcsec=float(cell_arcsec),
            frequency_hz=float(frequency_hz),
            bandwidth_hz=float(bandwidth_hz),
            rms_jy=rms_jy,
            beam_major_arcsec=beam_major_arcsec,
            beam_minor_arcsec=beam_minor_arcsec,
            beam_pa_deg=beam_pa_deg,
        )
        self.session.add(image)
        self.session.flush()
        for member in members:
            self.session.add(MosaicMember(mosaic_id=image.id, image_id=int(member)))
        self.session.flush()
        return image

    def get(self, image_id: int, *, kind: str | None = None) -> Image:
        """Return one image (optionally requiring its kind)."""
        image = self.session.scalar(
            select(Image)
            .where(Image.id == image_id)
            .options(selectinload(Image.product))
        )
        if image is None or (kind is not None and image.kind != kind):
            raise NotFoundError(kind or "image", image_id)
        return image

    def members(self, mosaic_id: int) -> list[Image]:
        """Tile images that make up a mosaic."""
        stmt = (
            select(Image)
            .join(MosaicMember, MosaicMember.image_id == Image.id)
            .where(MosaicMember.mosaic_id == mosaic_id)
            .order_by(Image.obs_time)
        )
        return list(self.session.scalars(stmt))

    def list(
        self,
        *,
        kind: str | None = "tile",
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        dec_min: float | None = None,
        dec_max: float | None = None,
        observation_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """List images by time and declination, newest first."""
        stmt = select(Image).options(selectinload(Image.product))
        if kind is not None:
            stmt = stmt.where(Image.kind == check_choice("kind", kind, IMAGE_KINDS))
        if start is not None:
            stmt = stmt.where(Image.obs_time >= as_utc(start))
        if end is not None:
            stmt = stmt.where(Image.obs_time <= as_utc(end))
        if dec_min is not None:
            stmt = stmt.where(Image.dec_deg >= dec_min)
        if dec_max is not None:
            stmt = stmt.where(Image.dec_deg <= dec_max)
        if observation_id is not None:
            stmt = stmt.where(Image.observation_id == observation_id)
        stmt = stmt.order_by(Image.obs_time.desc(), Image.id.desc())
        return paginate(self.session, stmt, limit=limit, offset=offset)

    def covering(
        self,
        ra_deg: float,
        dec_deg: float,
        *,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[Image]:
        """Images whose footprint (centre, radius) contains the position, newest first.

        A declination band is selected in SQL (indexed), the exact great-circle
        test is done here; at most ``limit`` images are returned.
        """
        max_radius = 20.0  # no DSA-110 image or mosaic footprint is wider than this
        lo, hi = dec_box(dec_deg, max_radius)
        stmt = select(Image).where(Image.dec_deg.between(lo, hi))
        if kind is not None:
            stmt = stmt.where(Image.kind == check_choice("kind", kind, IMAGE_KINDS))
        stmt = stmt.order_by(Image.obs_time.desc(), Image.id.desc())
        hits = []
        for image in self.session.scalars(stmt):
            sep = angular_separation_deg(ra_deg, dec_deg, image.ra_deg, image.dec_deg)
            if sep <= image.radius_deg:
                hits.append(image)
                if len(hits) >= limit:
                    break
        return hits
