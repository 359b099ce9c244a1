"""`archon-mcp serve` as a real subprocess: stdio, streamable HTTP and SSE, on the embedded default."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client

from archon_mcp.tools import TOOL_NAMES
from tests.helpers import archon_command, call, call_error, free_port, head_revision, server_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def _exercise(client: Client) -> None:
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == set(TOOL_NAMES)
    session = await call(client, "archon_create_session", agent="gemini", metadata={"via": "subprocess"})
    await call(
        client,
        "archon_add_event",
        session_id=session["id"],
        event_type="decision_made",
        event_data={"decision": "ship the kubernetes helm chart with a readiness probe"},
    )
    await call(client, "archon_end_session", session_id=session["id"], summary="Deployed the service to kubernetes")
    found = await call(client, "archon_search_sessions", query="kubernetes deployment", threshold=0.5)
    assert session["id"] in [r["id"] for r in found["results"]]
    message = await call_error(client, "archon_create_session", agent="nobody")
    assert "unknown agent" in message


async def test_stdio_subprocess(data_dir: Path, admin_url: str) -> None:
    params = StdioServerParameters(
        command=archon_command()[0],
        args=[*archon_command()[1:], "serve"],
        env=server_env(data_dir, "archon_stdio"),
    )
    async with Client(params) as client:
        await _exercise(client)


@pytest.fixture
def http_server(data_dir: Path, admin_url: str, request) -> Iterator[str]:
    transport = request.param
    port = free_port()
    proc = subprocess.Popen(
        [*archon_command(), "serve", "--transport", transport, "--port", str(port)],
        env=server_env(data_dir, f"archon_{transport}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read().decode()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("server did not open its port within 60 s")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize("http_server", ["http"], indirect=True)
async def test_streamable_http_subprocess(http_server: str) -> None:
    async with Client(f"{http_server}/mcp") as client:
        await _exercise(client)


@pytest.mark.parametrize("http_server", ["sse"], indirect=True)
async def test_sse_subprocess(http_server: str) -> None:
    async with Client(sse_client(f"{http_server}/sse")) as client:
        await _exercise(client)


@pytest.mark.parametrize("http_server", ["http"], indirect=True)
async def test_http_rejects_foreign_host_header(http_server: str) -> None:
    """DNS-rebinding protection: a request naming another Host is refused."""
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{http_server}/mcp",
            headers={"Host": "evil.example.com", "Content-Type": "application/json", "Accept": "application/json"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
    assert response.status_code in (400, 403, 421), response.status_code


def test_cli_version_and_help() -> None:
    out = subprocess.run([*archon_command(), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("archon-mcp ")
    for command in (["serve"], ["db", "upgrade"], ["db"]):
        result = subprocess.run([*archon_command(), *command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_cli_db_upgrade_on_embedded(data_dir: Path, admin_url: str) -> None:
    env = server_env(data_dir, "archon_cli_upgrade")
    subprocess.run([*archon_command(), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    current = subprocess.run(
        [*archon_command(), "db", "current"], env=env, check=True, capture_output=True, text=True, timeout=120
    )
    assert current.stdout.strip() == head_revision()


def inspector_command() -> list[str] | None:
    local = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "mcp-inspector"
    if local.exists():
        return [str(local)]
    if shutil.which("npx"):
        return ["npx", "-y", "@modelcontextprotocol/inspector@0.15.0"]
    return None


def test_mcp_inspector_cli_lists_and_calls_tools(data_dir: Path, admin_url: str) -> None:
    inspector = inspector_command()
    if inspector is None or not shutil.which("node"):
        pytest.skip("node is not installed: the MCP Inspector smoke test needs it")
    env_flags = []
    for key, value in server_env(data_dir, "archon_inspector").items():
        if key.startswith(("ARCHON_", "HF_")):
            env_flags += ["-e", f"{key}={value}"]
    base = [*inspector, "--cli", *env_flags, *archon_command(), "serve"]
    listed = subprocess.run([*base, "--method", "tools/list"], capture_output=True, text=True, timeout=180)
    assert listed.returncode == 0, listed.stderr[-2000:]
    for name in TOOL_NAMES:
        assert f'"name": "{name}"' in listed.stdout, name
    called = subprocess.run(
        [*base, "--method", "tools/call", "--tool-name", "archon_create_session", "--tool-arg", "agent=claude"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert called.returncode == 0, called.stderr[-2000:]
    assert '"agent": "claude"' in called.stdout and '"isError": false' in called.stdout
    bad = subprocess.run(
        [*base, "--method", "tools/call", "--tool-name", "archon_create_session", "--tool-arg", "agent=robot"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "unknown agent 'robot'" in bad.stdout + bad.stderr
