"""Shared route pieces: documented error responses and common query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from dsa110.api.deps import MAX_ID
from dsa110.api.schemas import ErrorEnvelope

__all__ = ["ERRORS", "IdPath", "RA", "DEC"]

#: Error responses every route may give, documented with the envelope.
ERRORS = {
    401: {"model": ErrorEnvelope, "description": "API key missing"},
    403: {"model": ErrorEnvelope, "description": "API key wrong or not configured"},
    404: {"model": ErrorEnvelope, "description": "No such resource"},
    422: {"model": ErrorEnvelope, "description": "Invalid parameters"},
}

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="database id")]
RA = dict(
    ge=0.0, le=360.0, allow_inf_nan=False, description="right ascension, degrees (ICRS)"
)
DEC = dict(
    ge=-90.0, le=90.0, allow_inf_nan=False, description="declination, degrees (ICRS)"
)
