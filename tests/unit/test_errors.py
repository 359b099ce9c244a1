"""Errors are converted once: driver errors at the data boundary, the project's through one table."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from archon_mcp.db import _translated
from archon_mcp.errors import (
    DATABASE_UNAVAILABLE,
    ConflictError,
    DatabaseRejectedError,
    DatabaseUnavailableError,
    InvalidInputError,
    NotFoundError,
    classify,
)

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def _resource() -> AsyncIterator[str]:
    yield "connection"


async def test_a_driver_error_leaving_a_database_block_becomes_the_projects() -> None:
    with pytest.raises(DatabaseUnavailableError) as down:
        async with _translated(_resource()):
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    assert str(down.value) == DATABASE_UNAVAILABLE
    with pytest.raises(DatabaseRejectedError, match="the database rejected the request"):
        async with _translated(_resource()):
            raise IntegrityError("INSERT", {}, ValueError("duplicate key"))
    with pytest.raises(NotFoundError):  # the project's own errors pass unchanged
        async with _translated(_resource()):
            raise NotFoundError("no session")
    with pytest.raises(KeyError):  # and so do bugs
        async with _translated(_resource()):
            raise KeyError("x")


def test_one_table_gives_status_and_type() -> None:
    assert classify(InvalidInputError("x")) == (400, "invalid_input")
    assert classify(NotFoundError("x")) == (404, "not_found")
    assert classify(ConflictError("x")) == (409, "conflict")
    assert classify(DatabaseUnavailableError()) == (503, "database_unavailable")
    assert classify(DatabaseRejectedError("x")) == (400, "database_rejected")
