"""Stdio `serve` as a relay to one shared server per data dir and settings (archon_mcp.relay, archon_mcp.hub):
clients started together share one server, a killed server is started again under a live client, the
last client out stops it, other settings get another server, and without a usable socket each
`serve` runs the server itself. Real processes, real MCP clients, the embedded PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CreateMessageResult, TextContent

from tests.helpers import archon_command, call, seed, server_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

IDLE = 2.0


def shared_env(data_dir: Path, database_name: str, **extra: str) -> dict[str, str]:
    env = server_env(data_dir, database_name)
    env.update(
        ARCHON_SHARED_SERVER="true",
        ARCHON_SHARED_SERVER_IDLE=str(IDLE),
        ARCHON_MODEL_SERVER="false",  # the shared server loads the model: every process is its own
        **extra,
    )
    return env


def stdio(env: dict[str, str], **options: Any) -> Client:
    command = archon_command()
    return Client(StdioServerParameters(command=command[0], args=[*command[1:], "serve"], env=env), **options)


def hubs(data_dir: Path, database_name: str) -> list[psutil.Process]:
    """The shared servers started for this data dir and database."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        cmdline = process.info["cmdline"] or []
        env = process.info["environ"] or {}
        if "archon_mcp.hub" in cmdline and env.get("ARCHON_DATABASE_NAME") == database_name:
            if env.get("ARCHON_DATA_DIR") == str(data_dir.resolve()):
                found.append(process)
    return found


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def no_hub_left(data_dir: Path) -> Iterator[list[str]]:
    """Names of the databases a test used: no shared server of theirs may outlive the test."""
    names: list[str] = []
    yield names
    for name in names:
        for process in hubs(data_dir, name):
            process.kill()


async def test_clients_started_together_share_one_server(data_dir: Path, admin_url: str, no_hub_left) -> None:
    no_hub_left.append("archon_shared_race")
    env = shared_env(data_dir, "archon_shared_race")
    created: list[str] = []

    async def client(n: int) -> None:
        async with stdio(env) as mcp:
            session = await call(mcp, "archon_create_session", agent="claude", project=f"race-{n}")
            await call(mcp, "archon_add_event", session_id=session["id"], event_type="decision_made",
                       event_data={"decision": f"client {n} chose the blue-green deploy"})  # fmt: skip
            created.append(session["id"])
            found = await call(mcp, "archon_search_events", query="blue-green deploy", threshold=0)
            assert found["results"], found
            await anyio.sleep(1.0)  # all three are connected at once

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(client, n)

    running = hubs(data_dir, "archon_shared_race")
    assert len(running) == 1, [p.cmdline() for p in running]
    # One store behind them: a fourth client sees what each of the three wrote.
    async with stdio(env) as mcp:
        listed = await call(mcp, "archon_list_sessions", limit=10)
        assert set(created) <= {s["id"] for s in listed["sessions"]}
        # The relay holds no model runtime, no pydantic, no SQLAlchemy: only the shared server does.
        relays = [p for p in psutil.Process().children(recursive=True) if _is_relay(p)]
        assert relays
        for relay in relays:
            maps = await anyio.Path(f"/proc/{relay.pid}/maps").read_text()
            assert not any(lib in maps for lib in ("onnxruntime", "openvino", "pydantic_core", "torch"))
    assert hubs(data_dir, "archon_shared_race") == running


def _is_relay(process: psutil.Process) -> bool:
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return False
    return cmdline[-1:] == ["serve"]


async def test_the_last_client_out_stops_the_server(data_dir: Path, admin_url: str, no_hub_left) -> None:
    no_hub_left.append("archon_shared_last")
    env = shared_env(data_dir, "archon_shared_last")
    async with stdio(env) as mcp:
        await call(mcp, "archon_create_session", agent="gemini")
        (hub,) = hubs(data_dir, "archon_shared_last")
    assert hub.is_running()
    assert wait_for(lambda: not hub.is_running(), IDLE + 15), "the shared server outlived its last client"
    assert hubs(data_dir, "archon_shared_last") == []
    sockets = list((data_dir / "serve").glob("*.sock"))
    assert all(not _listening(path) for path in sockets)


def _listening(path: Path) -> bool:
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        conn.close()


async def test_a_killed_server_is_started_again_under_a_live_client(
    data_dir: Path, admin_url: str, no_hub_left
) -> None:
    no_hub_left.append("archon_shared_kill")
    env = shared_env(data_dir, "archon_shared_kill")
    async with stdio(env) as mcp:
        session = await call(mcp, "archon_create_session", agent="claude", project="kill")
        (first,) = hubs(data_dir, "archon_shared_kill")
        first.send_signal(signal.SIGKILL)
        assert wait_for(lambda: not first.is_running(), 10)
        # The relay starts a new server, repeats the handshake, and the same client goes on.
        again = await call(mcp, "archon_get_session", session_id=session["id"])
        assert again["id"] == session["id"]
        event = await call(mcp, "archon_add_event", session_id=session["id"], event_type="note",
                           event_data={"text": "written after the restart"})  # fmt: skip
        assert event["session_id"] == session["id"]
        (second,) = hubs(data_dir, "archon_shared_kill")
        assert second.pid != first.pid


async def test_other_settings_get_another_server(data_dir: Path, admin_url: str, no_hub_left) -> None:
    no_hub_left.extend(["archon_shared_a", "archon_shared_b"])
    async with stdio(shared_env(data_dir, "archon_shared_a")) as a, stdio(shared_env(data_dir, "archon_shared_b")) as b:
        made = await call(a, "archon_create_session", agent="claude")
        listed = await call(b, "archon_list_sessions", limit=10)
        assert made["id"] not in {s["id"] for s in listed["sessions"]}
        assert len(hubs(data_dir, "archon_shared_a")) == len(hubs(data_dir, "archon_shared_b")) == 1


async def test_without_a_usable_socket_each_serve_runs_the_server(
    tmp_path: Path, data_dir: Path, admin_url: str
) -> None:
    # A data dir whose serve/ is a file: no socket can be made there, so the relay steps aside.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "serve").write_text("not a folder")
    env = shared_env(blocked, "archon_shared_fallback", ARCHON_DATABASE_URL=_url(admin_url, "archon_shared_fallback"))
    await _create_database(admin_url, "archon_shared_fallback")
    async with stdio(env) as mcp:
        made = await call(mcp, "archon_create_session", agent="claude")
        assert made["agent"] == "claude"
        assert hubs(blocked, "archon_shared_fallback") == []


def _url(admin_url: str, name: str) -> str:
    from tests.helpers import database_url

    return database_url(admin_url, name)


async def _create_database(admin_url: str, name: str) -> None:
    from tests.helpers import create_database

    await create_database(admin_url, name)


def test_bad_lines_are_answered_through_the_relay(data_dir: Path, admin_url: str, no_hub_left) -> None:
    """The shared server parses every line as a stdio server does: garbage gets its error, by id."""
    no_hub_left.append("archon_shared_lines")
    env = shared_env(data_dir, "archon_shared_lines")
    initialize = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    lines = [
        json.dumps(initialize),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        '{"jsonrpc": "2.0", "id": 7, "method": "tools/list"',  # cut short
        b"\xff\xfe not utf-8".decode("latin-1"),
        json.dumps({"jsonrpc": "2.0", "id": 8, "method": "ping"}),
    ]
    process = subprocess.Popen(
        [*archon_command(), "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = process.communicate(("\n".join(lines) + "\n").encode("latin-1"), timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    replies = {r.get("id"): r for r in map(json.loads, out.splitlines())}
    assert replies[1]["result"]["serverInfo"]["name"] == "archon-mcp"
    assert replies[7]["error"]["code"] == -32700
    assert replies[None]["error"]["code"] == -32700 and "UTF-8" in replies[None]["error"]["message"]
    assert replies[8]["result"] == {}
    assert process.returncode == 0


async def test_sampling_reaches_the_client_whose_session_it_is(data_dir: Path, admin_url: str, no_hub_left) -> None:
    """Two clients on one shared server, each with its own model: each summary is written by the
    model of the client that asked for it (one MCP session per connection)."""
    no_hub_left.append("archon_shared_sampling")
    env = shared_env(data_dir, "archon_shared_sampling")
    asked: dict[str, int] = {"alpha": 0, "beta": 0}

    def model(name: str):
        async def callback(context: Any, params: Any) -> CreateMessageResult:
            asked[name] += 1
            summary = {"summary": f"Summary written by the {name} model.", "key_events": [], "decisions": [],
                       "outcomes": [], "next_steps": []}  # fmt: skip
            return CreateMessageResult(
                role="assistant", content=TextContent(type="text", text=json.dumps(summary)), model=f"{name}-model"
            )

        return callback

    async with (
        stdio(env, sampling_callback=model("alpha")) as alpha,
        stdio(env, sampling_callback=model("beta")) as beta,
    ):
        first, second = await seed(alpha), await seed(beta)
        by_beta = await call(beta, "archon_summarize_session", session_id=second)
        by_alpha = await call(alpha, "archon_summarize_session", session_id=first)
        assert len(hubs(data_dir, "archon_shared_sampling")) == 1
    assert (by_alpha["model"], by_beta["model"]) == ("alpha-model", "beta-model")
    assert by_alpha["summary"] == "Summary written by the alpha model."
    assert asked == {"alpha": 1, "beta": 1}
