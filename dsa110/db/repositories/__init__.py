"""Repositories: the queries the pipeline and the API use, one class per aggregate."""

from dsa110.db.repositories._common import InvalidStateError, NotFoundError, Page
from dsa110.db.repositories.calibration import (
    DEFAULT_MAX_DEC_OFFSET_DEG,
    DEFAULT_VALIDITY,
    CalibrationRepository,
)
from dsa110.db.repositories.candidates import CANDIDATE_PRESETS, CandidateRepository
from dsa110.db.repositories.jobs import FINAL_JOB_STATES, JobRepository
from dsa110.db.repositories.locks import (
    LockHeldError,
    acquire_lock,
    hold_lock,
    refresh_lock,
    release_lock,
)
from dsa110.db.repositories.observations import ObservationRepository
from dsa110.db.repositories.products import (
    ImageRepository,
    ProductRepository,
    file_sha256,
    path_size,
)
from dsa110.db.repositories.sources import SourceRepository

__all__ = [
    "CANDIDATE_PRESETS",
    "DEFAULT_MAX_DEC_OFFSET_DEG",
    "DEFAULT_VALIDITY",
    "FINAL_JOB_STATES",
    "CalibrationRepository",
    "CandidateRepository",
    "ImageRepository",
    "InvalidStateError",
    "JobRepository",
    "LockHeldError",
    "NotFoundError",
    "ObservationRepository",
    "Page",
    "ProductRepository",
    "SourceRepository",
    "acquire_lock",
    "file_sha256",
    "hold_lock",
    "path_size",
    "refresh_lock",
    "release_lock",
]
