"""The HTTP edge under hostile use (issue 13): secrets in logs, cross-origin writes, huge and chunked
bodies, MCP session floods, Host/Origin tricks, absurd nesting, lone surrogates, dropped uploads and
OPTIONS. A real uvicorn in-process, configured exactly as `serve` configures it, over the real database;
the log test runs `archon-mcp serve` as a subprocess."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from archon_mcp._hosts import Authority, parse_authority, parse_origin
from archon_mcp._redaction import RedactSecrets
from archon_mcp.api import HostPolicy
from archon_mcp.config import Settings
from archon_mcp.http_app import build_http_app, uvicorn_config
from archon_mcp.server import build_server
from tests.helpers import archon_command, free_port, server_env

pytestmark = pytest.mark.anyio

TOKEN = "hostile-test-token-9f8e7d6c5b4a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "flood", "version": "1"}},
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@dataclasses.dataclass
class Running:
    url: str
    port: int
    app: Any
    server: Any  # the MCPServer: its session manager is what the session caps protect


async def serve_app(app, *, token: str | None = TOKEN, **overrides: Any) -> AsyncIterator[Running]:
    port = free_port()
    update: dict[str, Any] = {"auth_token": SecretStr(token) if token else None, "port": port, **overrides}
    settings = app.settings.model_copy(update=update)
    ctx = dataclasses.replace(app, settings=settings)
    mcp_server = build_server(settings, ctx)
    http_app = build_http_app(settings, ctx, mcp_server, transport="http")
    server = uvicorn.Server(uvicorn_config(settings, http_app))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Running(f"http://127.0.0.1:{port}", port, ctx, mcp_server)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def running(app) -> AsyncIterator[Running]:
    async for r in serve_app(app):
        yield r


@pytest.fixture
async def open_server(app) -> AsyncIterator[Running]:
    """The loopback default: no token."""
    async for r in serve_app(app, token=None):
        yield r


def assert_error(response: httpx2.Response, status: int, kind: str, *words: str) -> str:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert body["error"]["type"] == kind, body
    message = body["error"]["message"]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


async def raw_exchange(port: int, head: bytes, chunks: Sequence[bytes] = (), *, timeout: float = 10.0) -> bytes:
    """Sends `head` then `chunks` on a raw socket while reading; returns what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = bytearray()

    async def read() -> None:
        while chunk := await reader.read(65536):
            answer.extend(chunk)
            if b"\r\n\r\n" in answer and _complete(bytes(answer)):
                return

    reading = asyncio.create_task(read())
    try:
        writer.write(head)
        for chunk in chunks:
            if reading.done():
                break
            writer.write(chunk)
            await writer.drain()
        await asyncio.wait_for(asyncio.shield(reading), timeout)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        reading.cancel()
        writer.close()
    return bytes(answer)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), f"no HTTP answer: {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict[str, Any]:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


# --- 1. no secret from a query string in any log --------------------------------------------------


@pytest.mark.slow
def test_token_in_a_query_string_never_reaches_the_log(data_dir, admin_url) -> None:
    """`serve` itself, at the default INFO level (access log on): the page login `/?token=` and
    tokens on /mcp and /api (401s included) appear in no log line, stderr or stdout."""
    secret = "QUERYSECRET" + uuid.uuid4().hex
    port = free_port()
    env = {**server_env(data_dir, "archon_logs"), "ARCHON_AUTH_TOKEN": TOKEN, "ARCHON_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [*archon_command(), "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server did not answer within 90 s"
            try:
                httpx2.get(f"{base}/api/meta", headers=AUTH, timeout=5)
                break
            except httpx2.TransportError:
                time.sleep(0.3)
        assert httpx2.get(f"{base}/?token={secret}").status_code == 200
        assert httpx2.get(f"{base}/?x=1&token={secret}&y=2").status_code == 200
        assert httpx2.post(f"{base}/mcp?token={secret}", json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
        assert httpx2.get(f"{base}/api/meta?token={secret}").status_code == 401
        assert httpx2.get(f"{base}/api/sessions?token={secret}", headers=AUTH).status_code == 400
        assert httpx2.get(f"{base}/nowhere?token={secret}").status_code == 404
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    logged = (out + err).decode(errors="replace")
    assert secret not in logged, (
        f"the token reached the log: {[line for line in logged.splitlines() if secret in line]}"
    )
    assert "GET /?token=[redacted] HTTP/1.1" in logged, f"no access log line at INFO: {err.decode()[-2000:]}"
    assert "/?x=[redacted]&token=[redacted]&y=[redacted]" in logged
    assert out == b"", f"logs belong on stderr: {out[:500]!r}"


def test_redaction_covers_every_logger_and_tracebacks() -> None:
    """The filter on every log handler: URLs in any logger's message, bearer headers, traceback text."""
    try:
        raise ValueError("could not fetch /?token=abc123")
    except ValueError:
        failure = sys.exc_info()
    record = logging.LogRecord(
        "mcp.client",
        logging.ERROR,
        __file__,
        1,
        "GET %s failed; %s",
        ("http://h/mcp?token=abc123&b=2", "Authorization: Bearer abc123"),
        failure,
    )
    assert RedactSecrets().filter(record), "records are rewritten, never dropped"
    formatted = logging.Formatter().format(record)
    assert "abc123" not in formatted, formatted
    assert "token=[redacted]&b=[redacted]" in formatted and "Bearer [redacted]" in formatted
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("c", "GET", "/?token=t0k", "1.1", 200),
        None,
    )
    RedactSecrets().filter(access)
    assert access.getMessage() == 'c - "GET /?token=[redacted] HTTP/1.1" 200'


# --- 2. cross-origin requests and non-JSON bodies on /api ----------------------------------------


async def test_cross_origin_writes_are_refused_without_a_token(open_server: Running) -> None:
    port = open_server.port
    async with httpx2.AsyncClient(base_url=open_server.url, timeout=30) as http:
        simple = await http.post(
            "/api/sessions",
            content=b'{"agent": "claude"}',
            headers={"Origin": "http://localhost:3000", "Content-Type": "text/plain"},
        )
        assert_error(simple, 403, "forbidden_origin", "http://localhost:3000", "ARCHON_ALLOWED_ORIGINS")
        as_json = await http.post(
            "/api/sessions", json={"agent": "claude"}, headers={"Origin": "http://localhost:3000"}
        )
        assert_error(as_json, 403, "forbidden_origin")
        read = await http.get("/api/sessions", headers={"Origin": f"http://localhost:{port + 1}"})
        assert_error(read, 403, "forbidden_origin")
        other_name = await http.get("/api/meta", headers={"Origin": f"http://localhost:{port}"})
        assert_error(other_name, 403, "forbidden_origin")  # Host is 127.0.0.1: another origin
        other_scheme = await http.get("/api/meta", headers={"Origin": f"https://127.0.0.1:{port}"})
        assert_error(other_scheme, 403, "forbidden_origin")
        no_cors = await http.get("/api/sessions", headers={"Sec-Fetch-Site": "same-site"})
        assert_error(no_cors, 403, "forbidden_origin")
        assert (await http.get("/api/sessions")).json()["total"] == 0, "the refused POSTs stored nothing"

        own = {"Origin": f"http://127.0.0.1:{port}"}
        created = await http.post("/api/sessions", json={"agent": "claude"}, headers=own)
        assert created.status_code == 201, created.text
        assert (await http.get("/api/meta", headers={**own, "Sec-Fetch-Site": "same-origin"})).status_code == 200
        assert (await http.get("/", headers={"Origin": "http://localhost:3000"})).status_code == 200


async def test_allowed_origins_setting_admits_a_listed_origin(app) -> None:
    async for running in serve_app(app, token=None, allowed_origins=("https://memory.example.com",)):
        async with httpx2.AsyncClient(base_url=running.url, timeout=30) as http:
            ok = await http.post(
                "/api/sessions", json={"agent": "claude"}, headers={"Origin": "https://memory.example.com"}
            )
            assert ok.status_code == 201, ok.text
            other = await http.post(
                "/api/sessions", json={"agent": "claude"}, headers={"Origin": "https://example.com"}
            )
            assert other.status_code == 403
    with pytest.raises(ValueError, match="ARCHON_ALLOWED_ORIGINS"):
        Settings(allowed_origins="memory.example.com")


async def test_api_bodies_must_be_json(open_server: Running) -> None:
    async with httpx2.AsyncClient(base_url=open_server.url, timeout=30) as http:
        body = b'{"agent": "claude"}'
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            refused = await http.post("/api/sessions", content=body, headers={"Content-Type": content_type})
            assert_error(refused, 415, "unsupported_media_type", "application/json", content_type.split(";")[0])
        untyped = await http.post("/api/sessions", content=body)
        assert_error(untyped, 415, "unsupported_media_type")
        ok = await http.post("/api/sessions", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
        assert ok.status_code == 201, ok.text
        ended = await http.post(f"/api/sessions/{ok.json()['id']}/end")  # no body at all: nothing to type
        assert ended.status_code == 200, ended.text
        assert (await http.get("/api/sessions")).json()["total"] == 1


# --- 3. body limits, enforced while reading ------------------------------------------------------


async def test_a_huge_declared_body_gets_413_at_once(running: Running) -> None:
    for path, limit_name in (("/api/sessions", "ARCHON_MAX_API_BODY_BYTES"), ("/mcp", "ARCHON_MAX_MCP_BODY_BYTES")):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Length: 300000000\r\n\r\n"
        ).encode()
        started = time.monotonic()
        answer = await raw_exchange(running.port, head, timeout=5)  # not a byte of the body is sent
        assert status_of(answer) == 413, answer[:300]
        assert time.monotonic() - started < 3, "413 must come before the body is read"
        assert limit_name in json.dumps(body_of(answer))


async def test_a_chunked_body_over_the_limit_gets_413_while_it_streams(app) -> None:
    async for running in serve_app(app, max_api_body_bytes=64 * 1024, max_mcp_body_bytes=64 * 1024):
        for path in ("/api/sessions", "/mcp"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                f"Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
            piece = b" " * 16384
            chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            # 200 chunks = 3.2 MB offered, never terminated: the answer must come after about 64 KiB.
            answer = await raw_exchange(running.port, head, [chunk] * 200, timeout=5)
            assert status_of(answer) == 413, (path, answer[:300])
        async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
            fits = await http.post("/api/sessions", json={"agent": "claude", "metadata": {"note": "x" * 30000}})
            assert fits.status_code == 201, "a body under the limit is served as before"


# --- 4. MCP session floods -----------------------------------------------------------------------


async def _initialize(http: httpx2.AsyncClient, **headers: str) -> str:
    response = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


async def test_a_session_flood_cannot_lock_out_other_clients(app) -> None:
    async for running in serve_app(app, mcp_max_sessions=5, mcp_max_sessions_per_client=3):
        manager = running.server.session_manager
        async with (
            httpx2.AsyncClient(headers=AUTH, timeout=60) as authed,
            Client(streamable_http_client(f"{running.url}/mcp", http_client=authed), mode="legacy") as working,
        ):
            assert not (await working.call_tool("archon_create_session", {"agent": "claude"})).is_error
            (working_id,) = manager._server_instances
            async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as flood:
                # One address opening sessions in a loop and never ending them...
                own = [await _initialize(flood) for _ in range(12)]
                # ...and many addresses (behind the trusted local proxy) doing the same.
                spread = [await _initialize(flood, **{"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(1, 13)]
                assert len(manager._server_instances) <= 5, f"{len(manager._server_instances)} sessions open"
                gone = await flood.post(
                    "/mcp",
                    json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                    headers={**MCP_HEADERS, "mcp-session-id": own[0], "mcp-protocol-version": "2025-06-18"},
                )
                assert gone.status_code == 404, "the oldest abandoned handshake was ended to make room"
                assert spread[-1] in manager._server_instances, "the newest session is kept"
                # A burst in parallel: some may be refused while every slot is mid-handshake, none fail.
                burst = await asyncio.gather(
                    *(flood.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS) for _ in range(30))
                )
                assert {r.status_code for r in burst} <= {200, 503}, [r.status_code for r in burst]
                assert any(r.status_code == 200 for r in burst)
                assert len(manager._server_instances) <= 5, f"{len(manager._server_instances)} sessions open"
                assert working_id in manager._server_instances, "a session holding its event stream is not idle"
            # The client that was working all along (a 2025 handshake client, as desktop clients are) still works...
            assert not (await working.call_tool("archon_create_session", {"agent": "claude"})).is_error
        # ...and a new one can initialize and call a tool.
        async with (
            httpx2.AsyncClient(headers=AUTH, timeout=60) as authed,
            Client(streamable_http_client(f"{running.url}/mcp", http_client=authed), mode="legacy") as newcomer,
        ):
            result = await newcomer.call_tool("archon_create_session", {"agent": "gemini"})
            assert not result.is_error, result
            assert len(manager._server_instances) <= 5


async def test_one_client_address_is_held_to_its_own_cap(app) -> None:
    async for running in serve_app(app, mcp_max_sessions=50, mcp_max_sessions_per_client=3):
        manager = running.server.session_manager
        async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
            others = [await _initialize(http, **{"X-Forwarded-For": f"10.9.0.{i}"}) for i in range(1, 4)]
            for _ in range(10):
                await _initialize(http, **{"X-Forwarded-For": "10.1.1.1"})
            assert len(manager._server_instances) == 6, "3 from the flooding address, 3 from the others"
            assert all(sid in manager._server_instances for sid in others), "other clients' sessions untouched"


async def test_requests_that_open_no_session_end_no_session(app) -> None:
    """At the cap, only a handshake `initialize` makes room: 2026-era (stateless) calls and stray
    requests without a session id pass through and leave every open session alone."""
    async for running in serve_app(app, mcp_max_sessions=3, mcp_max_sessions_per_client=3):
        manager = running.server.session_manager
        async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
            held = {await _initialize(http) for _ in range(3)}
            stray = await http.post(
                "/mcp", json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, headers=MCP_HEADERS
            )
            assert stray.status_code == 400, stray.text
        async with (
            httpx2.AsyncClient(headers=AUTH, timeout=60) as authed,
            Client(streamable_http_client(f"{running.url}/mcp", http_client=authed)) as modern,
        ):
            for _ in range(5):
                assert not (await modern.call_tool("archon_get_stats", {})).is_error
        assert set(manager._server_instances) == held


# --- 5. Host and Origin are parsed and matched exactly -------------------------------------------


def test_host_and_origin_parsing_is_exact() -> None:
    assert parse_authority("localhost:18765") == Authority("localhost", 18765)
    assert parse_authority("LOCALHOST") == Authority("localhost", None)
    assert parse_authority("[::1]:80") == Authority("::1", 80)
    assert parse_authority("127.0.0.1") == Authority("127.0.0.1", None)
    for bad in (
        "localhost:18765:evil.com",
        "127.0.0.1:abc",
        "localhost:",
        "localhost:0",
        "localhost:99999",
        "localhost:+80",
        "localhost:８０",
        "localhost/evil",
        "evil.com@localhost",
        "127.1",
        "[::1",
        "[::1]x",
        "::1",
        " localhost",
        "",
    ):
        assert parse_authority(bad) is None, bad
    assert parse_origin("http://localhost:1.evil.com") is None
    assert parse_origin("http://localhost:8765/path") is None
    assert parse_origin("null") is None
    assert parse_origin("ftp://localhost") is None
    origin = parse_origin("HTTPS://Memory.Example.com")
    assert origin is not None and origin.effective_port == 443
    policy = HostPolicy(Settings(host="127.0.0.1", port=8765, allowed_hosts="memory.example.com,10.0.0.5:9000"))
    assert policy.host_allowed(Authority("localhost", 1234)) and policy.host_allowed(Authority("127.0.0.1", None))
    assert policy.host_allowed(Authority("memory.example.com", 443))
    assert policy.host_allowed(Authority("10.0.0.5", 9000)) and not policy.host_allowed(Authority("10.0.0.5", 9001))
    assert not policy.host_allowed(Authority("evil.com", None))
    assert HostPolicy(Settings(allowed_hosts="proxy.example.com:*")).host_allowed(Authority("proxy.example.com", 1))
    with pytest.raises(ValueError, match="ARCHON_ALLOWED_HOSTS"):
        Settings(allowed_hosts="memory.example.com:8765:evil.com")


async def test_prefix_tricks_in_host_and_origin_are_refused(running: Running) -> None:
    port = running.port
    async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
        for path in ("/", "/api/meta", "/mcp"):
            for host in (f"localhost:{port}:evil.com", "127.0.0.1:abc", f"127.0.0.1:{port}.evil.com"):
                refused = await http.get(path, headers={"Host": host})
                assert refused.status_code == 421, (path, host, refused.status_code)
            for origin in ("http://localhost:1.evil.com", f"http://127.0.0.1:{port}.evil.com", "null"):
                refused = await http.get(path, headers={"Origin": origin})
                assert refused.status_code == 403, (path, origin, refused.status_code)
        assert (await http.get("/api/meta", headers={"Host": f"localhost:{port}"})).status_code == 200
        assert (await http.get("/", headers={"Origin": f"http://localhost:{port}"})).status_code == 200
        mcp = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": f"localhost:{port}:evil.com"})
        assert mcp.status_code == 421


# --- 6. absurd nesting over REST ----------------------------------------------------------------


async def test_deeply_nested_bodies_get_400_naming_the_limit(running: Running) -> None:
    async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
        for depth in (1000, 5000, 900, 25):
            nested = "[" * depth + "]" * depth
            body = f'{{"agent": "claude", "metadata": {{"deep": {nested}}}}}'.encode()
            response = await http.post("/api/sessions", content=body, headers={"Content-Type": "application/json"})
            message = assert_error(response, 400, "invalid_input", "nested", "ARCHON_MAX_JSON_DEPTH")
            assert "20" in message, message
        top = "[" * 100_000 + "]" * 100_000
        response = await http.post("/api/sessions", content=top.encode(), headers={"Content-Type": "application/json"})
        assert_error(response, 400, "invalid_input", "ARCHON_MAX_JSON_DEPTH")
        ok = await http.post("/api/sessions", json={"agent": "claude", "metadata": {"a": {"b": {"c": [1, [2]]}}}})
        assert ok.status_code == 201, ok.text


# --- 7. lone surrogates over MCP, dropped uploads, OPTIONS --------------------------------------


async def test_a_lone_surrogate_over_mcp_http_gets_the_projects_message(running: Running) -> None:
    async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
        session_id = await _initialize(http)
        headers = {**MCP_HEADERS, "mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}
        note = await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        assert note.status_code == 202
        call = (
            b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "archon_create_session", '
            b'"arguments": {"agent": "claude", "metadata": {"note": "bad \\udfff here"}}}}'
        )
        response = await http.post("/mcp", content=call, headers=headers)
        assert response.status_code == 400, response.text
        reply = response.json()
        assert reply["id"] == 7 and reply["error"]["code"] == -32602, reply
        message = reply["error"]["message"]
        assert message.startswith("metadata.note contains an unpaired UTF-16 surrogate (\\udfff)"), message
        assert "remove it and retry" in message and "hex escape" not in message
        emoji = call.replace(b"\\udfff", b"\\ud83d\\ude00")  # a correctly paired surrogate is fine
        works = await http.post("/mcp", content=emoji, headers=headers)
        assert works.status_code == 200 and '"isError":false' in works.text.replace(" ", ""), works.text[:500]


async def test_a_client_dropping_mid_upload_is_logged_once_without_traceback(running: Running, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for path in ("/api/sessions", "/mcp"):
        _reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                f"Content-Length: 100000\r\n\r\n"
            ).encode()
            + b'{"agent": "claude", "metadata": {"x": "'
            + b"y" * 5000
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()  # gone mid-upload
        await asyncio.sleep(0.5)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, [f"{r.levelname} {r.name}: {r.getMessage()}" for r in problems]
    assert "Traceback" not in caplog.text
    drops = [r for r in caplog.records if "disconnected while sending" in r.getMessage()]
    assert [r.levelno for r in drops] == [logging.INFO, logging.INFO], [r.getMessage() for r in drops]
    assert not any(r.exc_info for r in caplog.records)


async def test_options_lists_only_the_methods_a_path_allows(running: Running) -> None:
    async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as http:
        sid = (await http.post("/api/sessions", json={"agent": "claude"})).json()["id"]
        expected = {
            "/api/sessions": {"GET", "HEAD", "POST", "OPTIONS"},
            f"/api/sessions/{sid}": {"GET", "HEAD", "OPTIONS"},
            f"/api/sessions/{sid}/end": {"POST", "OPTIONS"},
            f"/api/sessions/{sid}/summary": {"PUT", "OPTIONS"},
            "/api/meta": {"GET", "HEAD", "OPTIONS"},
        }
        for path, methods in expected.items():
            response = await http.options(path)
            assert response.status_code == 204, (path, response.status_code, response.text)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed == methods, (path, allowed)
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                answer = await http.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
                assert (answer.status_code == 405) == (method not in allowed), (path, method, answer.status_code)
                if answer.status_code == 405:
                    assert {m.strip() for m in answer.headers["allow"].split(",")} == methods
        unknown = await http.options("/api/nothing-here")
        assert unknown.status_code == 404
