"""Turning database rows into response schemas (paths never leave the server)."""

from __future__ import annotations

from pathlib import PurePath

from dsa110.api import schemas
from dsa110.db import models

__all__ = ["product_out", "file_out", "candidate_out", "image_out"]


def product_out(
    product: models.Product, *, with_provenance: bool = False
) -> schemas.ProductOut:
    """Describe a product by id and file name, never by path."""
    prov = None
    if with_provenance and product.provenance is not None:
        p = product.provenance
        prov = schemas.ProvenanceOut(
            code_version=p.code_version,
            parameters=p.parameters,
            job_id=p.job_id,
            input_product_ids=[
                i.input_product_id for i in p.inputs if i.input_product_id
            ],
            input_file_ids=[i.input_file_id for i in p.inputs if i.input_file_id],
            created_at=p.created_at,
        )
    return schemas.ProductOut(
        id=product.id,
        kind=product.kind,
        name=PurePath(product.path).name,
        checksum=product.checksum,
        size_bytes=product.size_bytes,
        created_at=product.created_at,
        observation_id=product.observation_id,
        calibration_set_id=product.calibration_set_id,
        provenance=prov,
    )


def file_out(row: models.ObservationFile) -> schemas.ObservationFileOut:
    """Describe a raw file by its name."""
    return schemas.ObservationFileOut(
        id=row.id,
        subband=row.subband,
        start_time=row.start_time,
        size_bytes=row.size_bytes,
        checksum=row.checksum,
        name=PurePath(row.path).name,
    )


def image_out(image: models.Image) -> schemas.ImageOut:
    """Describe an image."""
    return schemas.ImageOut.model_validate(image)


def candidate_out(cand: models.Candidate) -> schemas.CandidateOut:
    """Describe a candidate with its source's name."""
    return schemas.CandidateOut(
        id=cand.id,
        source_id=cand.source_id,
        source_name=cand.source.name,
        kind=cand.kind,
        status=cand.status,
        score=cand.score,
        detected_at=cand.detected_at,
        time_start=cand.time_start,
        time_end=cand.time_end,
        details=cand.details,
        note=cand.note,
        updated_at=cand.updated_at,
    )
