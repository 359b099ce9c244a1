"""Errors at the HTTP edge: every failure becomes `{"error": {"type": ..., "message": ...}}`, through the
one table of `errors.py` (driver errors were converted to the project's at the data boundary)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.responses import JSONResponse

from archon_mcp.errors import ArchonError, classify, message_for

log = logging.getLogger(__name__)


def error_response(status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def response_for(exc: Exception) -> JSONResponse:
    """The JSON error response for an exception raised while serving an API request."""
    if isinstance(exc, ArchonError):
        status, kind = classify(exc)
        return error_response(status, kind, message_for(exc, "rest"))
    log.exception("unexpected error in the REST API")
    return error_response(500, "internal_error", "internal server error; the server log has the details")
