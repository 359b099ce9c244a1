"""What a hostile user found (issue 13), pinned: event types, paging past the end, export through a
planted file, bad lines on stdio, bad settings at start-up. Real PostgreSQL, real MCP client, real
subprocesses for the CLI and stdio."""

from __future__ import annotations

import io
import json
import os
import queue
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from archon_mcp.config import Settings
from archon_mcp.services.transfer import import_jsonl
from tests.helpers import archon_command, call, call_error, server_env

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session(client) -> dict:
    return await call(client, "archon_create_session", agent="claude")


# --- event_type is snake_case ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("TASK_CREATED", "use 'task_created'"),
        ("taskCreated", "use 'task_created'"),
        ("task-created", "use 'task_created'"),
        ("\u200btask", "'\\u200b' (U+200B) is not allowed"),
        ("<script>alert(1)</script>", "'<' (U+003C) is not allowed"),
        ("../../etc", "'.' (U+002E) is not allowed"),
        ("1st_try", "start it with a letter"),
        ("x" * 65, "event_type is 65 characters long; the limit is 64"),
    ],
)
async def test_event_type_must_be_snake_case(client, session, event_type, expected) -> None:
    message = await call_error(
        client, "archon_add_event", session_id=session["id"], event_type=event_type, event_data={"a": 1}
    )
    assert expected in message, message
    if "characters long" not in message:
        assert "must be one word in snake_case" in message
    batch = await call_error(
        client, "archon_add_events", session_id=session["id"], events=[{"event_type": event_type, "event_data": {}}]
    )
    assert expected in batch, batch
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert detail["event_count"] == 0


async def test_snake_case_event_types_are_accepted(client, session) -> None:
    for kind in ("task_created", "x", "step2", "a" * 64, "  padded_type  "):
        event = await call(client, "archon_add_event", session_id=session["id"], event_type=kind, event_data={})
        assert event["event_type"] == kind.strip()


async def test_import_applies_the_same_event_type_rule(app) -> None:
    sid, good, bad = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    lines = [
        {"type": "session", "id": sid, "agent": "claude", "started_at": "2026-01-02T03:04:05Z"},
        {"type": "event", "id": good, "session_id": sid, "event_type": "task_created", "event_data": {}},
        {"type": "event", "id": bad, "session_id": sid, "event_type": "TASK_CREATED", "event_data": {}},
    ]
    for line in lines[1:]:
        line["timestamp"] = "2026-01-02T03:04:06Z"
    source = io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    report = await import_jsonl(app.database, app.settings, source)
    assert report.events_imported == 1 and report.rejected_count == 1, report.render()
    assert "line 3: event_type 'TASK_CREATED' must be one word in snake_case" in report.render()
    assert "use 'task_created'" in report.render()


# --- paging past the end --------------------------------------------------------------------------
async def test_has_more_events_turns_false_on_and_past_the_last_page(client, session) -> None:
    sid = session["id"]
    await call(
        client,
        "archon_add_events",
        session_id=sid,
        events=[{"event_type": "step", "event_data": {"i": i}} for i in range(5)],
    )
    pages, offset = [], 0
    while True:  # the loop a client writes: it must end
        page = await call(client, "archon_get_session", session_id=sid, event_limit=2, event_offset=offset)
        pages.append([e["event_data"]["i"] for e in page["events"]])
        if not page["has_more_events"]:
            break
        offset = page["event_offset"] + len(page["events"])
        assert len(pages) < 10, "has_more_events never turned false"
    assert pages == [[0, 1], [2, 3], [4]]
    exact = await call(client, "archon_get_session", session_id=sid, event_limit=5, event_offset=0)
    assert exact["has_more_events"] is False and len(exact["events"]) == 5
    past = await call(client, "archon_get_session", session_id=sid, event_limit=10, event_offset=9_999_999)
    assert past["events"] == [] and past["has_more_events"] is False and past["event_count"] == 5
    middle = await call(client, "archon_get_session", session_id=sid, event_limit=1, event_offset=3)
    assert middle["has_more_events"] is True
    last = await call(client, "archon_get_last_session", agent="claude", event_limit=2)
    assert [e["event_data"]["i"] for e in last["session"]["events"]] == [3, 4]
    assert last["session"]["has_more_events"] is False and last["session"]["event_offset"] == 3


async def test_next_offset_is_null_on_and_past_the_last_page(client, app) -> None:
    for _ in range(3):
        await call(client, "archon_create_session", agent="gemini")
    listed = await call(client, "archon_list_sessions", agent="gemini", limit=3)
    assert listed["next_offset"] is None and listed["total"] == 3
    first = await call(client, "archon_list_sessions", agent="gemini", limit=2)
    assert first["next_offset"] == 2
    second = await call(client, "archon_list_sessions", agent="gemini", limit=2, offset=2)
    assert len(second["sessions"]) == 1 and second["next_offset"] is None
    past = await call(client, "archon_list_sessions", agent="gemini", limit=2, offset=9_999_999)
    assert past["sessions"] == [] and past["next_offset"] is None
    active = await call(client, "archon_get_active_sessions", agent="gemini", limit=2, offset=9_999_999)
    assert active["sessions"] == [] and active["next_offset"] is None
    browse = app.sessions.list_sessions  # what GET /api/sessions pages with too, with its status filter
    assert (await browse(agent="gemini", active=True, limit=2)).next_offset == 2
    assert (await browse(agent="gemini", active=True, limit=2, offset=2)).next_offset is None
    assert (await browse(agent="gemini", active=True, limit=2, offset=9_999_999)).next_offset is None


# --- export through a planted file ----------------------------------------------------------------
def _cli(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`python -m archon_mcp ...` as a subprocess (PYTHONPATH and the rest of the environment inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "archon_mcp", *args], env=env, input=stdin, capture_output=True, timeout=120
    )


def _cli_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    env.update(HF_HUB_OFFLINE="1", ARCHON_LOG_LEVEL="WARNING", **values)
    return env


def _tree(root: Path) -> list[str]:
    return sorted(str(path) for path in root.rglob("*"))


@pytest.mark.slow
async def test_export_never_writes_through_a_planted_partial_file(client, test_db_url: str, tmp_path: Path) -> None:
    await call(client, "archon_create_session", agent="claude")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    output = tmp_path / "backup.jsonl"
    planted = tmp_path / "backup.jsonl.partial"
    planted.symlink_to(victim)  # the old export opened <output>.partial and wrote through the link

    result = _cli(["export", "-o", str(output)], _cli_env(ARCHON_DATABASE_URL=test_db_url))
    assert result.returncode == 0, result.stderr.decode()
    assert victim.read_text() == "precious\n", "export wrote through the planted symlink"
    assert planted.is_symlink()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in output.read_bytes().splitlines()]
    assert lines[0]["type"] == "archon-export" and [r["type"] for r in lines[1:]] == ["session"]

    # A stale world-writable partial file (from an interrupted old export) is not reused either.
    planted.unlink()
    planted.write_text("stale")
    planted.chmod(0o666)
    output.unlink()
    result = _cli(["export", "-o", str(output)], _cli_env(ARCHON_DATABASE_URL=test_db_url))
    assert result.returncode == 0, result.stderr.decode()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600 and planted.read_text() == "stale"
    assert sorted(os.listdir(tmp_path)) == ["backup.jsonl", "backup.jsonl.partial", "victim.txt"]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["directory", "missing_parent"])
async def test_export_to_a_bad_path_is_one_line_and_leaves_nothing(test_db_url: str, tmp_path: Path, where) -> None:
    target = tmp_path / "out"
    if where == "directory":
        target.mkdir()
        expected = "it is a directory; name a file"
    else:
        target = target / "deeper" / "backup.jsonl"
        expected = "does not exist"
    before = _tree(tmp_path)
    result = _cli(["export", "-o", str(target)], _cli_env(ARCHON_DATABASE_URL=test_db_url))
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"archon-mcp: cannot export to {target}: ") and expected in stderr
    assert _tree(tmp_path) == before, "export left a file behind"


# --- settings are checked before anything starts --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("content", "expected"), [("", "is empty"), (None, "cannot be read (No such file")])
def test_bad_token_file_on_loopback_is_one_line_before_anything_starts(tmp_path: Path, content, expected) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    data_dir = tmp_path / "data"
    env = _cli_env(ARCHON_DATA_DIR=str(data_dir), ARCHON_AUTH_TOKEN_FILE=str(token_file))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "archon_mcp", "serve", "--transport", "http", "--port", "1"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(
        f"archon-mcp: invalid configuration: ARCHON_AUTH_TOKEN_FILE {str(token_file)!r} {expected}"
    )
    assert "put the bearer token on its first line, or unset ARCHON_AUTH_TOKEN_FILE" in stderr
    assert not data_dir.exists(), "PostgreSQL was started before the settings were checked"
    assert time.monotonic() - started < 30


def test_blank_token_file_variable_means_no_file() -> None:
    assert Settings(auth_token_file="").auth_token_file is None
    assert Settings(auth_token_file="  ").resolved_auth_token is None


# --- stdio answers every request ------------------------------------------------------------------
class RawStdio:
    """`archon-mcp serve` over stdio, driven with raw bytes: what a broken or hostile client sends."""

    def __init__(self, env: dict[str, str]) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [*archon_command(), "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, raw: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def request(self, request_id: int, method: str, params: dict | None = None) -> None:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(json.dumps(message).encode())

    def reply(self, timeout: float = 60.0) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stderr.seek(0)
            log = self.stderr.read().decode(errors="replace")[-3000:]
            raise AssertionError(f"no reply within {timeout} s: the client would wait forever\n{log}") from None
        return json.loads(line)

    def close(self) -> tuple[int, str]:
        """Ends the input; the exit status and what the server logged."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            status = self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.stderr.seek(0)
            log = self.stderr.read().decode(errors="replace")
            self.stderr.close()
        return status, log


def _tool_call(name: str, arguments_json: str) -> str:
    """A tools/call params object with the arguments given as raw JSON text."""
    return f'{{"name": "{name}", "arguments": {arguments_json}}}'


@pytest.mark.slow
def test_stdio_answers_every_bad_line_and_keeps_serving(data_dir: Path, admin_url: str) -> None:
    server = RawStdio(server_env(data_dir, "archon_stdio_hostile"))
    try:
        server.request(
            1,
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        )
        assert server.reply()["id"] == 1
        server.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        server.request(2, "tools/call", {"name": "archon_create_session", "arguments": {"agent": "claude"}})
        created = server.reply(120)
        assert created["id"] == 2 and not created["result"].get("isError"), created
        sid = created["result"]["structuredContent"]["id"]
        event = f'{{"session_id": "{sid}", "event_type": "note", "event_data": {{"t": %s}}}}'

        def call_line(request_id: int, event_data_value: str) -> bytes:
            params = _tool_call("archon_add_event", event % event_data_value)
            return f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", "params": {params}}}'.encode()

        # A lone surrogate (a valid JSON escape): the tool refuses it with the project's message.
        server.send(call_line(3, r'"bad \udfff text"'))
        answer = server.reply()
        assert answer["id"] == 3 and answer["result"]["isError"] is True, answer
        assert "unpaired UTF-16 surrogate" in answer["result"]["content"][0]["text"]

        # JSON nested 100,000 deep: a parse error carrying the id, not silence.
        server.send(call_line(4, "[" * 100_000 + "]" * 100_000))
        answer = server.reply()
        assert answer["id"] == 4 and answer["error"]["code"] == -32700, answer
        assert "nested too deeply" in answer["error"]["message"]

        # Nested 500 deep parses, and the tool names the depth limit.
        server.send(call_line(5, '{"a": ' * 500 + "1" + "}" * 500))
        answer = server.reply()
        assert answer["id"] == 5 and answer["result"]["isError"] is True, answer
        assert "nested deeper than 20 levels" in answer["result"]["content"][0]["text"]

        # Invalid UTF-8 is refused (it used to be stored as U+FFFD).
        server.send(call_line(6, '"caf_"').replace(b"caf_", b"caf\xe9"))  # Latin-1, not UTF-8
        answer = server.reply()
        assert answer["id"] == 6 and answer["error"]["code"] == -32700, answer
        assert "not valid UTF-8" in answer["error"]["message"]

        # Lines that are not JSON, or not JSON-RPC.
        server.send(b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", oops')
        answer = server.reply()
        assert answer["id"] == 7 and answer["error"]["code"] == -32700, answer
        server.send(b"hello")
        answer = server.reply()
        assert answer["id"] is None and answer["error"]["code"] == -32700, answer
        server.send(b'{"jsonrpc": "2.0", "id": 8, "method": 5}')
        answer = server.reply()
        assert answer["id"] == 8 and answer["error"]["code"] == -32600, answer
        assert '"method" must be a string' in answer["error"]["message"]
        server.send(b"[1, 2]")
        answer = server.reply()
        assert answer["id"] is None and answer["error"]["code"] == -32600, answer
        server.send(b'{"jsonrpc": "2.0", "id": "x\\udfff", "method": "tools/list"}')
        answer = server.reply()
        assert answer["id"] == "x\udfff" and "tools" in answer["result"], answer

        # Still serving, and nothing of the above was stored.
        server.request(9, "tools/call", {"name": "archon_get_session", "arguments": {"session_id": sid}})
        answer = server.reply()
        assert answer["id"] == 9 and answer["result"]["structuredContent"]["event_count"] == 0, answer
    finally:
        status, log = server.close()
    assert status == 0 and "Traceback" not in log and "Logging error" not in log, log
