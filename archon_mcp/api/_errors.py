"""Errors at the HTTP edge: every failure becomes `{"error": {"type": ..., "message": ...}}`, mapped once here."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.responses import JSONResponse

from archon_mcp.errors import (
    ArchonError,
    ConflictError,
    DatabaseUnavailableError,
    EmbeddingError,
    EmbeddingModelMismatchError,
    InvalidInputError,
    NotFoundError,
)

log = logging.getLogger(__name__)

# (status, type) per exception class, most specific first.
ERROR_STATUS: tuple[tuple[type[ArchonError], int, str], ...] = (
    (InvalidInputError, 400, "invalid_input"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (DatabaseUnavailableError, 503, "database_unavailable"),
    (EmbeddingModelMismatchError, 503, "embedding_model_mismatch"),
    (EmbeddingError, 503, "embedding_unavailable"),
)

DATABASE_DOWN = (
    "the archon database is unavailable right now (PostgreSQL did not answer); nothing was changed. "
    "Retry in a few seconds."
)


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def response_for(exc: Exception) -> JSONResponse:
    """The JSON error response for an exception raised while serving an API request."""
    if isinstance(exc, ArchonError):
        for cls, status, kind in ERROR_STATUS:
            if isinstance(exc, cls):
                return error_response(status, kind, str(exc))
        return error_response(500, "error", str(exc))
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError | TimeoutError):
        log.warning("database unavailable: %s", exc)
        return error_response(503, "database_unavailable", DATABASE_DOWN)
    if isinstance(exc, DBAPIError):
        log.exception("database error")
        return error_response(400, "database_rejected", f"the database rejected the request: {exc.orig}")
    log.exception("unexpected error in the REST API")
    return error_response(500, "internal_error", "internal server error; the server log has the details")
