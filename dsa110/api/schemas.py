"""Pydantic request and response schemas of the REST API.

Times are ISO 8601 UTC, angles degrees (ICRS), fluxes Jy, sizes bytes.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ErrorBody",
    "ErrorEnvelope",
    "Page",
    "HealthCheck",
    "Health",
    "ObservationFileOut",
    "ProvenanceOut",
    "ProductOut",
    "ObservationOut",
    "ObservationDetail",
    "ImageOut",
    "MosaicDetail",
    "CalibrationSetOut",
    "CalibrationSetDetail",
    "ValidityWindow",
    "VariabilityOut",
    "SourceOut",
    "ConeHit",
    "MeasurementOut",
    "LightCurve",
    "CandidateOut",
    "CandidateStatusUpdate",
    "JobOut",
    "JobDetail",
    "ReprocessRequest",
]

T = TypeVar("T")

_ORM = ConfigDict(from_attributes=True)


class ErrorBody(BaseModel):
    """What went wrong."""

    code: str = Field(description="machine-readable error code, e.g. not_found")
    message: str
    details: object | None = None


class ErrorEnvelope(BaseModel):
    """Every error response has this shape."""

    error: ErrorBody


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` and the number of matches over all pages."""

    items: list[T]
    total: int
    limit: int
    offset: int


class HealthCheck(BaseModel):
    """One component's state."""

    ok: bool
    detail: str


class Health(BaseModel):
    """Overall service health."""

    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, HealthCheck]


class ObservationFileOut(BaseModel):
    """A raw subband file."""

    model_config = _ORM
    id: int
    subband: int
    start_time: dt.datetime
    size_bytes: int | None
    checksum: str | None
    name: str


class ProvenanceOut(BaseModel):
    """How a product was made."""

    code_version: str
    parameters: dict | None
    job_id: int | None
    input_product_ids: list[int]
    input_file_ids: list[int]
    created_at: dt.datetime


class ProductOut(BaseModel):
    """A registered product; the path is never exposed, only its file name."""

    id: int
    kind: str
    name: str
    checksum: str | None
    size_bytes: int | None
    created_at: dt.datetime
    observation_id: int | None
    calibration_set_id: int | None
    provenance: ProvenanceOut | None = None


class ObservationOut(BaseModel):
    """An observation group."""

    model_config = _ORM
    id: int
    group_id: str
    start_time: dt.datetime
    end_time: dt.datetime
    dec_deg: float
    ra_deg: float | None
    n_files: int
    status: str


class ImageOut(BaseModel):
    """Image or mosaic metadata."""

    model_config = _ORM
    id: int
    product_id: int
    observation_id: int | None
    kind: str
    name: str
    obs_time: dt.datetime
    ra_deg: float
    dec_deg: float
    radius_deg: float
    n_x: int
    n_y: int
    cell_arcsec: float
    frequency_hz: float
    bandwidth_hz: float
    rms_jy: float | None
    beam_major_arcsec: float | None
    beam_minor_arcsec: float | None
    beam_pa_deg: float | None


class ObservationDetail(ObservationOut):
    """An observation with its files, products, images and QA."""

    qa: dict | None
    files: list[ObservationFileOut]
    products: list[ProductOut]
    images: list[ImageOut]


class MosaicDetail(ImageOut):
    """A mosaic and its member images."""

    members: list[ImageOut]


class CalibrationSetOut(BaseModel):
    """A calibration set."""

    model_config = _ORM
    id: int
    name: str
    calibrator: str
    reference_time: dt.datetime
    valid_start: dt.datetime
    valid_end: dt.datetime
    dec_deg: float
    qa_passed: bool


class CalibrationSetDetail(CalibrationSetOut):
    """A calibration set with its QA record and solution products."""

    qa: dict | None
    products: list[ProductOut]


class ValidityWindow(BaseModel):
    """When and for which declination a calibration set is valid."""

    model_config = _ORM
    id: int
    name: str
    valid_start: dt.datetime
    valid_end: dt.datetime
    dec_deg: float
    qa_passed: bool


class VariabilityOut(BaseModel):
    """Variability statistics of a light curve."""

    model_config = _ORM
    n_measurements: int
    mean_flux_jy: float
    std_flux_jy: float
    modulation_index: float
    eta: float
    chi2_reduced: float
    max_deviation_sigma: float | None
    updated_at: dt.datetime


class SourceOut(BaseModel):
    """A sky source."""

    model_config = _ORM
    id: int
    name: str
    ra_deg: float
    dec_deg: float
    catalog: str | None
    reference_flux_jy: float | None
    variability: VariabilityOut | None = None


class ConeHit(BaseModel):
    """A source found by a cone search and its distance from the centre."""

    source: SourceOut
    separation_deg: float


class MeasurementOut(BaseModel):
    """One point of a light curve."""

    model_config = _ORM
    time: dt.datetime
    flux_jy: float
    flux_err_jy: float
    forced: bool
    snr: float | None
    flagged: bool
    image_id: int | None


class LightCurve(BaseModel):
    """A source's light curve."""

    source_id: int
    name: str
    points: list[MeasurementOut]
    truncated: bool = Field(
        False,
        description="more points than the 50,000 returned (the oldest): narrow "
        "start/end for the rest (CSV: the X-Truncated header)",
    )


class CandidateOut(BaseModel):
    """An ESE or transient candidate."""

    model_config = _ORM
    id: int
    source_id: int
    source_name: str
    kind: str
    status: str
    score: float
    detected_at: dt.datetime
    time_start: dt.datetime
    time_end: dt.datetime
    details: dict | None
    note: str | None
    updated_at: dt.datetime


class CandidateStatusUpdate(BaseModel):
    """Review a candidate: dismiss, confirm or re-activate it, with a note."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "dismissed", "confirmed"]
    note: str | None = Field(default=None, max_length=4000)


class JobOut(BaseModel):
    """A job's state and timings."""

    model_config = _ORM
    id: int
    kind: str
    state: str
    parameters: dict | None
    submitted_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None


class JobDetail(JobOut):
    """A job with its log."""

    log: str | None


class ReprocessRequest(BaseModel):
    """Reprocess every observation between ``start`` and ``end`` (at most 31 days)."""

    model_config = ConfigDict(extra="forbid")
    start: dt.datetime
    end: dt.datetime
    options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=32
    )

    @model_validator(mode="after")
    def _window(self):
        start, end = _utc(self.start), _utc(self.end)
        if end <= start:
            raise ValueError("end must be after start")
        if end - start > dt.timedelta(days=31):
            raise ValueError("the time range may span at most 31 days")
        self.start, self.end = start, end
        return self


def _utc(value: dt.datetime) -> dt.datetime:
    try:
        return (
            value.replace(tzinfo=dt.UTC)
            if value.tzinfo is None
            else value.astimezone(dt.UTC)
        )
    except OverflowError:
        # 0001-01-01T00:00+01:00 is before datetime.min in UTC (a 500 before)
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None
