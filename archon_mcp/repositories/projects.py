"""SQL over archon_projects. Functions take an AsyncConnection or AsyncSession and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from archon_mcp.models import Project

_projects = Project.__table__


async def get_or_create(conn: AsyncConnection | AsyncSession, name: str) -> tuple[uuid.UUID, str]:
    """(id, stored name) of the project called `name` (any case), created if there is none.

    `INSERT ... ON CONFLICT DO NOTHING` on the unique `lower(name)` index, then a SELECT: two clients
    naming the same new project at once both get the one row that won; neither sees an error."""
    await conn.execute(
        pg_insert(_projects).values(name=name).on_conflict_do_nothing(index_elements=[func.lower(_projects.c.name)])
    )
    row = (
        await conn.execute(select(_projects.c.id, _projects.c.name).where(func.lower(_projects.c.name) == name.lower()))
    ).one()
    return row.id, row.name


async def find(conn: AsyncConnection | AsyncSession, name: str) -> tuple[uuid.UUID, str] | None:
    row = (
        await conn.execute(select(_projects.c.id, _projects.c.name).where(func.lower(_projects.c.name) == name.lower()))
    ).first()
    return None if row is None else (row.id, row.name)


async def names(conn: AsyncConnection | AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(_projects.c.id, _projects.c.name).where(_projects.c.id.in_(wanted)))
    return {row.id: row.name for row in rows}
