"""Alembic environment (async). Used by `alembic upgrade head`, `archon-mcp db upgrade` and the server.

The server passes an open connection in `config.attributes["connection"]` (it holds an advisory
lock on it); otherwise a connection is opened from ARCHON_DATABASE_URL or the embedded server.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Connection

from alembic import context
from archon_mcp.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from archon_mcp.config import Settings
    from archon_mcp.db import Database

    database = Database(Settings())
    await database.start(migrate=False)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await database.close()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run against a database")

connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
