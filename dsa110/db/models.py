"""SQLAlchemy 2 models: everything the pipeline produces, and who made it.

One module, one declarative ``Base``; the Alembic migrations in
``dsa110/db/migrations`` create exactly these tables (a test compares them).

Notes
-----
Times are stored as naive UTC and returned as timezone-aware UTC
(:class:`UTCDateTime`), so SQLite and PostgreSQL behave the same. Angles are in
degrees (ICRS), fluxes in Jy, sizes in bytes, checksums are SHA-256 hex digests.
Enumerated states are short strings validated by the repositories (the allowed
values are the ``*_STATES`` tuples below), so adding a state needs no migration.
"""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "UTCDateTime",
    "utcnow",
    "Observation",
    "ObservationFile",
    "Product",
    "Image",
    "MosaicMember",
    "CalibrationSet",
    "Source",
    "Measurement",
    "VariabilityStat",
    "Candidate",
    "Job",
    "Provenance",
    "ProvenanceInput",
    "Lock",
    "OBSERVATION_STATES",
    "PRODUCT_KINDS",
    "IMAGE_KINDS",
    "CANDIDATE_STATES",
    "CANDIDATE_KINDS",
    "JOB_STATES",
]

#: Allowed ``Observation.status`` values.
OBSERVATION_STATES = ("incomplete", "complete", "processing", "processed", "failed")
#: Allowed ``Product.kind`` values.
PRODUCT_KINDS = (
    "ms",
    "zarr",
    "image",
    "mosaic",
    "caltable",
    "plot",
    "catalog",
    "other",
)
#: Allowed ``Image.kind`` values.
IMAGE_KINDS = ("tile", "mosaic")
#: Allowed ``Candidate.status`` values.
CANDIDATE_STATES = ("active", "dismissed", "confirmed")
#: Allowed ``Candidate.kind`` values.
CANDIDATE_KINDS = ("ese", "transient")
#: Allowed ``Job.state`` values.
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def utcnow() -> _dt.datetime:
    """Return the current time, timezone-aware UTC."""
    return _dt.datetime.now(_dt.UTC)


class UTCDateTime(TypeDecorator):
    """A ``DateTime`` stored as naive UTC and returned timezone-aware (UTC).

    Naive inputs are taken to be UTC already; aware ones are converted.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):  # noqa: D102
        if value is None:
            return None
        return value.replace(tzinfo=_dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every ``dsa110`` table."""

    type_annotation_map = {_dt.datetime: UTCDateTime, dict: JSON}


class Observation(Base):
    """One observation group ("tile"): 16 subband files of ~309 s."""

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[str] = mapped_column(String(64), unique=True)
    start_time: Mapped[_dt.datetime] = mapped_column(index=True)
    end_time: Mapped[_dt.datetime]
    dec_deg: Mapped[float] = mapped_column(Float, index=True)
    ra_deg: Mapped[float | None] = mapped_column(Float)
    n_files: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="incomplete", index=True)
    qa: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)

    files: Mapped[list[ObservationFile]] = relationship(
        back_populates="observation",
        cascade="all, delete-orphan",
        order_by="ObservationFile.subband",
    )
    products: Mapped[list[Product]] = relationship(back_populates="observation")


class ObservationFile(Base):
    """One raw UVH5 subband file of an observation."""

    __tablename__ = "observation_files"
    __table_args__ = (UniqueConstraint("observation_id", "subband"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    subband: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[_dt.datetime]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(64))

    observation: Mapped[Observation] = relationship(back_populates="files")


class Product(Base):
    """A file or directory the pipeline wrote (MS, zarr store, image, table, plot)."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    checksum: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)
    observation_id: Mapped[int | None] = mapped_column(
        ForeignKey("observations.id", ondelete="SET NULL"), index=True
    )
    calibration_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("calibration_sets.id", ondelete="SET NULL"), index=True
    )

    observation: Mapped[Observation | None] = relationship(back_populates="products")
    calibration_set: Mapped[CalibrationSet | None] = relationship(
        back_populates="products"
    )
    provenance: Mapped[Provenance | None] = relationship(
        back_populates="product", cascade="all, delete-orphan", uselist=False
    )


class Image(Base):
    """Metadata of an image product: a tile image or a mosaic."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), unique=True
    )
    observation_id: Mapped[int | None] = mapped_column(
        ForeignKey("observations.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="tile", index=True)
    name: Mapped[str] = mapped_column(String(128))
    obs_time: Mapped[_dt.datetime] = mapped_column(index=True)
    ra_deg: Mapped[float] = mapped_column(Float)
    dec_deg: Mapped[float] = mapped_column(Float, index=True)
    radius_deg: Mapped[float] = mapped_column(Float)
    n_x: Mapped[int] = mapped_column(Integer)
    n_y: Mapped[int] = mapped_column(Integer)
    cell_arcsec: Mapped[float] = mapped_column(Float)
    frequency_hz: Mapped[float] = mapped_column(Float)
    bandwidth_hz: Mapped[float] = mapped_column(Float)
    rms_jy: Mapped[float | None] = mapped_column(Float)
    beam_major_arcsec: Mapped[float | None] = mapped_column(Float)
    beam_minor_arcsec: Mapped[float | None] = mapped_column(Float)
    beam_pa_deg: Mapped[float | None] = mapped_column(Float)

    product: Mapped[Product] = relationship()
    observation: Mapped[Observation | None] = relationship()


class MosaicMember(Base):
    """Which tile images a mosaic was made of."""

    __tablename__ = "mosaic_members"

    mosaic_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )


class CalibrationSet(Base):
    """A set of calibration solutions and the time/declination range it is valid for."""

    __tablename__ = "calibration_sets"
    __table_args__ = (Index("ix_calibration_sets_window", "valid_start", "valid_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    calibrator: Mapped[str] = mapped_column(String(64))
    reference_time: Mapped[_dt.datetime]
    valid_start: Mapped[_dt.datetime]
    valid_end: Mapped[_dt.datetime]
    dec_deg: Mapped[float] = mapped_column(Float)
    qa_passed: Mapped[bool] = mapped_column(Boolean, default=True)
    qa: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)

    products: Mapped[list[Product]] = relationship(back_populates="calibration_set")


class Source(Base):
    """A sky source (catalogue or newly found)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    ra_deg: Mapped[float] = mapped_column(Float)
    dec_deg: Mapped[float] = mapped_column(Float, index=True)
    catalog: Mapped[str | None] = mapped_column(String(32))
    reference_flux_jy: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)

    variability: Mapped[VariabilityStat | None] = relationship(
        back_populates="source", cascade="all, delete-orphan", uselist=False
    )


class Measurement(Base):
    """One flux-density measurement of a source in one image."""

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_source_time", "source_id", "time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )
    time: Mapped[_dt.datetime]
    flux_jy: Mapped[float] = mapped_column(Float)
    flux_err_jy: Mapped[float] = mapped_column(Float)
    forced: Mapped[bool] = mapped_column(Boolean, default=True)
    snr: Mapped[float | None] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)


class VariabilityStat(Base):
    """Variability statistics of one source's light curve."""

    __tablename__ = "variability_stats"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    n_measurements: Mapped[int] = mapped_column(Integer)
    mean_flux_jy: Mapped[float] = mapped_column(Float)
    std_flux_jy: Mapped[float] = mapped_column(Float)
    modulation_index: Mapped[float] = mapped_column(Float)
    eta: Mapped[float] = mapped_column(Float)
    chi2_reduced: Mapped[float] = mapped_column(Float)
    max_deviation_sigma: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)

    source: Mapped[Source] = relationship(back_populates="variability")


class Candidate(Base):
    """An Extreme-Scattering-Event or transient candidate and its review state."""

    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="ese", index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    score: Mapped[float] = mapped_column(Float)
    detected_at: Mapped[_dt.datetime] = mapped_column(default=utcnow, index=True)
    time_start: Mapped[_dt.datetime]
    time_end: Mapped[_dt.datetime]
    details: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)

    source: Mapped[Source] = relationship()


class Job(Base):
    """A unit of pipeline work: its state, timings, errors and log."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    parameters: Mapped[dict | None] = mapped_column(JSON)
    submitted_at: Mapped[_dt.datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[_dt.datetime | None]
    finished_at: Mapped[_dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str | None] = mapped_column(Text)
    runner_key: Mapped[str | None] = mapped_column(String(128))
    observation_id: Mapped[int | None] = mapped_column(
        ForeignKey("observations.id", ondelete="SET NULL"), index=True
    )


class Provenance(Base):
    """How a product was made: the code version, parameters, job and inputs."""

    __tablename__ = "provenance"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), unique=True
    )
    code_version: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict | None] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[_dt.datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="provenance")
    inputs: Mapped[list[ProvenanceInput]] = relationship(
        cascade="all, delete-orphan", order_by="ProvenanceInput.id"
    )


class ProvenanceInput(Base):
    """One input of a product: another product or a raw file."""

    __tablename__ = "provenance_inputs"

    id: Mapped[int] = mapped_column(primary_key=True)
    provenance_id: Mapped[int] = mapped_column(
        ForeignKey("provenance.id", ondelete="CASCADE"), index=True
    )
    input_product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL")
    )
    input_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("observation_files.id", ondelete="SET NULL")
    )


class Lock(Base):
    """A named lock (e.g. one per group) with an expiry for stale-lock recovery."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[_dt.datetime]
    expires_at: Mapped[_dt.datetime]
