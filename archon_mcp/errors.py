"""The exception tree, and the one table that maps it to what each edge (MCP, REST, prompts, CLI) reports.

    ArchonError
    ├── InvalidInputError        bad argument (wrong format, out of range, too large)
    ├── NotFoundError            no session with that id
    ├── ConflictError            the operation does not fit the current state (session already ended)
    ├── EmbeddingModelMismatchError  the database was embedded with another model
    ├── EmbeddingError           the embedding provider failed (writes are kept and retried)
    ├── DatabaseUnavailableError the database could not be reached in time
    └── DatabaseRejectedError    the database refused a statement

Driver and SQLAlchemy errors become the last two at the data boundary (`db.Database`), so nothing above
the repositories sees a driver exception. Messages are written for the caller: what was wrong and how
to fix it. A `hint` names the next step, worded by each edge (`message_for`): an MCP client is told
which tool to call, a REST client which endpoint.
"""

from __future__ import annotations

from typing import Literal

Edge = Literal["mcp", "rest", "cli"]
Hint = Literal["find_session", "session_id", "ended_session", "add_to_active", "no_events"]

DATABASE_UNAVAILABLE = (
    "the archon database is unavailable right now (PostgreSQL did not answer); nothing was changed. "
    "Retry in a few seconds."
)

# What to do next, per hint and edge. The CLI has no tools or endpoints to point at.
HINTS: dict[Hint, dict[Edge, str]] = {
    "find_session": {
        "mcp": "; list sessions with archon_list_sessions or archon_get_active_sessions",
        "rest": "; list sessions with GET /api/sessions or GET /api/sessions/active",
        "cli": "",
    },
    "session_id": {
        "mcp": ". Use the id returned by archon_create_session",
        "rest": ". Use the id returned by POST /api/sessions",
        "cli": "",
    },
    "ended_session": {
        "mcp": "; to change its summary use archon_update_session_summary, to keep working start a new "
        "session with archon_create_session",
        "rest": "; to change its summary use PUT /api/sessions/{id}/summary, to keep working start a new "
        "session with POST /api/sessions",
        "cli": "",
    },
    "add_to_active": {
        "mcp": ". Start a new one with archon_create_session and log the event there",
        "rest": ". Start a new one with POST /api/sessions and log the event there",
        "cli": "",
    },
    "no_events": {
        "mcp": "; log them with archon_add_event, or write the summary yourself with archon_update_session_summary",
        "rest": "; log them with POST /api/sessions/{id}/events, or write the summary yourself with "
        "PUT /api/sessions/{id}/summary",
        "cli": "",
    },
}


class ArchonError(Exception):
    """Base of every error archon-mcp reports to a caller. `str()` is the message without the hint."""

    def __init__(self, message: str = "", *, hint: Hint | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidInputError(ArchonError, ValueError):
    """An argument is malformed, out of range or too large."""


class NotFoundError(ArchonError, LookupError):
    """The referenced object does not exist."""


class ConflictError(ArchonError):
    """The request contradicts the object's state."""


class EmbeddingModelMismatchError(ArchonError):
    """The configured embedding model differs from the one the database was built with."""


class EmbeddingError(ArchonError):
    """The embedding provider failed or returned something unusable."""


class DatabaseUnavailableError(ArchonError):
    """PostgreSQL could not be reached or did not answer in time."""

    def __init__(self, message: str = DATABASE_UNAVAILABLE, *, hint: Hint | None = None) -> None:
        super().__init__(message, hint=hint)


class DatabaseRejectedError(ArchonError):
    """PostgreSQL refused a statement (a constraint, a value it cannot store)."""


# The one table: (class, HTTP status, error type), most specific first. MCP reports every one of them
# as a tool error with `message_for(exc, "mcp")`; prompts as an invalid-params protocol error.
ERROR_TABLE: tuple[tuple[type[ArchonError], int, str], ...] = (
    (InvalidInputError, 400, "invalid_input"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (DatabaseUnavailableError, 503, "database_unavailable"),
    (DatabaseRejectedError, 400, "database_rejected"),
    (EmbeddingModelMismatchError, 503, "embedding_model_mismatch"),
    (EmbeddingError, 503, "embedding_unavailable"),
    (ArchonError, 500, "error"),
)


def classify(exc: ArchonError) -> tuple[int, str]:
    """(HTTP status, error type) of `exc`."""
    return next((status, kind) for cls, status, kind in ERROR_TABLE if isinstance(exc, cls))


def message_for(exc: ArchonError, edge: Edge) -> str:
    """The message with the hint worded for `edge`."""
    hint = HINTS[exc.hint][edge] if exc.hint is not None else ""
    return f"{exc}{hint}"
