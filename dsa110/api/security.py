"""API keys: hashed at rest, required on mutating routes, optional on reads."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from dsa110.api.errors import APIError

__all__ = [
    "API_KEY_HEADER",
    "hash_api_key",
    "require_api_key",
    "read_access",
    "check_key",
]

#: Header carrying the API key.
API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


def hash_api_key(key: str) -> str:
    """Return the SHA-256 hex digest under which an API key is configured.

    API keys are long random tokens, so a plain SHA-256 suffices (no salt or
    key stretching is needed as for passwords); comparisons are constant-time.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_key(request: Request, key: str | None) -> None:
    """Raise 401 without a key, 403 with a wrong one or when none is configured."""
    hashes = request.app.state.settings.api_key_hashes
    if not key:
        raise APIError(
            401,
            "unauthorized",
            f"this route needs an API key in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    if not hashes:
        raise APIError(403, "forbidden", "no API key is configured on this server")
    digest = hash_api_key(key)
    if not any(hmac.compare_digest(digest, h) for h in hashes):
        raise APIError(403, "forbidden", "the API key is not valid")


def require_api_key(
    request: Request, key: Annotated[str | None, Depends(_header)] = None
) -> None:
    """FastAPI dependency for mutating routes."""
    check_key(request, key)


def read_access(
    request: Request, key: Annotated[str | None, Depends(_header)] = None
) -> None:
    """Check the key on read routes, only when reads are protected."""
    if request.app.state.settings.protect_reads:
        check_key(request, key)
