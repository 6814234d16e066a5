"""One error envelope for every error: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dsa110.db import DatabaseError, InvalidStateError, NotFoundError
from dsa110.errors import DSA110Error

__all__ = ["APIError", "error_response", "install_error_handlers"]

log = logging.getLogger("dsa110.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
}


class APIError(Exception):
    """An error answered with the envelope.

    Parameters
    ----------
    status : int
        HTTP status.
    code : str
        Machine-readable code, e.g. ``"not_found"``.
    message : str
        Human-readable message.
    details : object, optional
        Extra JSON-serialisable data.
    """

    def __init__(
        self, status: int, code: str, message: str, details=None, headers=None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(status: int, code: str, message: str, details=None, headers=None):
    """Return a ``JSONResponse`` holding the error envelope."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": jsonable_encoder(details),
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(errors):
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so that every error (even 404/405/500) uses the envelope."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return error_response(
            exc.status, exc.code, exc.message, exc.details, exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(
            exc.status_code, code, message, None, getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        details = _validation_details(exc.errors())
        if any(d["loc"] and d["loc"][0] == "path" for d in details):
            # A path that names no valid resource id identifies nothing: 404,
            # whatever it contains (e.g. "../../etc/passwd").
            return error_response(404, "not_found", "no such resource", None)
        return error_response(
            422, "validation_error", "invalid request parameters", details
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError):
        return error_response(404, "not_found", str(exc), {"resource": exc.what})

    @app.exception_handler(InvalidStateError)
    async def _invalid_state(request: Request, exc: InvalidStateError):
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(DatabaseError)
    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: Exception):
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            503, "database_unavailable", "the database is unavailable"
        )

    @app.exception_handler(DSA110Error)
    async def _library_error(request: Request, exc: DSA110Error):
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error")

    # Starlette hands Exception to its outermost middleware: the 500 then
    # passed by the request metrics (an alert on 5xx saw none of them) and
    # the CORS headers (a browser saw a CORS error, not the envelope). This
    # middleware, added before the others and so inside them, answers it.
    @app.middleware("http")
    async def _unhandled(request: Request, call_next):
        try:
            return await call_next(request)
        except Exception as exc:  # noqa: BLE001 - every error gets the envelope
            return await _unexpected(request, exc)
