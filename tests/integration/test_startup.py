"""Background start-up: the MCP handshake and tools/list do not wait for PostgreSQL, migrations or the
model; tool calls do, get a clear error while the database cannot be reached, and succeed once it can,
without restarting the server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from archon_mcp.embedded import default_shared_buffers_mb
from archon_mcp.server import build_server
from archon_mcp.tools import TOOL_NAMES
from tests.helpers import call, call_error, create_database, database_url, make_settings

pytestmark = pytest.mark.anyio


async def test_tools_are_listed_before_the_database_exists_and_work_once_it_does(admin_url: str) -> None:
    name = f"archon_late_{uuid.uuid4().hex[:8]}"
    settings = make_settings(database_url(admin_url, name))
    async with Client(build_server(settings)) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == set(TOOL_NAMES)
        error = await call_error(client, "archon_count_sessions", agent="claude")
        assert f'database "{name}" does not exist' in error

        await create_database(admin_url, name)  # the database appears while the server runs
        created = await call(client, "archon_create_session", agent="claude")
        assert (await call(client, "archon_count_sessions", agent="claude"))["count"] == 1
    # The server migrated the new database itself, and closed everything when the session ended.
    engine = create_async_engine(database_url(admin_url, name))
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM archon_sessions WHERE id = :i"), {"i": created["id"]}) == 1
        others = await conn.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        )
        assert others == 0
    await engine.dispose()


def test_the_server_module_loads_without_sqlalchemy() -> None:
    """What the handshake needs is light: SQLAlchemy, asyncpg and torch load after it, in the background."""
    code = (
        "import sys, archon_mcp.cli, archon_mcp.server; "
        "print(sorted(m for m in ('sqlalchemy', 'asyncpg', 'alembic', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


async def test_migrations_are_not_bound_by_the_request_statement_timeout(admin_url: str) -> None:
    """An index rebuild over a large store takes minutes; the 1 ms statement timeout of the request
    path (here) would cancel any migration that ran under it."""
    from archon_mcp.db import Database

    url = await create_database(admin_url, f"archon_slowmig_{uuid.uuid4().hex[:8]}")
    database = Database(make_settings(url, db_statement_timeout_ms=1))
    await database.start(check_embedding=False)
    try:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            head = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            indexes = await conn.scalar(
                text("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%hnsw%' AND indexdef LIKE '%m=''24''%'")
            )
        await engine.dispose()
        assert head == "0006" and indexes == 2
    finally:
        await database.close()


def test_loading_the_local_model_draws_no_progress_bar_on_stderr() -> None:
    """stderr of a stdio server is the MCP client's log: no "Loading weights ... 100%|███" on every start."""
    code = (
        "import asyncio\n"
        "from archon_mcp.embeddings._local import LocalEmbedder\n"
        "vector = asyncio.run(LocalEmbedder('all-MiniLM-L6-v2', 384).embed(['hello']))[0]\n"
        "print(len(vector))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "384"
    assert "Loading weights" not in done.stderr and "%|" not in done.stderr, done.stderr[-2000:]


async def test_database_opened_closes_its_pool_however_the_block_ends(test_db_url: str) -> None:
    from archon_mcp.db import Database

    database = Database(make_settings(test_db_url))
    async with database.opened(migrate=False, check_embedding=False) as db:
        async with db.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    with pytest.raises(RuntimeError, match="has not been called"):
        _ = database.engine
    with pytest.raises(LookupError):
        async with Database(make_settings(test_db_url)) as db:
            raise LookupError("the block failed")
    with pytest.raises(RuntimeError, match="has not been called"):
        _ = db.engine


async def test_the_embedded_server_runs_with_archon_s_shared_buffers(admin_url: str) -> None:
    """archon.conf, written before the embedded server started, sets its page cache."""
    engine = create_async_engine(admin_url)
    try:
        async with engine.connect() as conn:
            size = await conn.scalar(
                text(
                    "SELECT setting::bigint * current_setting('block_size')::bigint / 1048576 "
                    "FROM pg_settings WHERE name = 'shared_buffers'"
                )
            )
    finally:
        await engine.dispose()
    assert size == default_shared_buffers_mb()
