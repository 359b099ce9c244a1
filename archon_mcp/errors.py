"""The exception tree. Messages are written for the calling model: what was wrong and how to fix it.

    ArchonError
    ├── InvalidInputError        bad argument (wrong format, out of range, too large)
    ├── NotFoundError            no session with that id
    ├── ConflictError            the operation does not fit the current state (session already ended)
    ├── EmbeddingModelMismatchError  the database was embedded with another model
    ├── EmbeddingError           the embedding provider failed (writes are kept and retried)
    └── DatabaseUnavailableError the database could not be reached in time

Tools map every ArchonError to an MCP tool error (`is_error=True`) carrying the message.
"""

from __future__ import annotations


class ArchonError(Exception):
    """Base of every error archon-mcp reports to a caller."""


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
