"""What a hostile user found (issue 13), pinned: event types, paging past the end, export through a
planted file, bad lines on stdio, bad settings at start-up. Real PostgreSQL, real MCP client, real
subprocesses for the CLI and stdio."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from archon_mcp.config import Settings
from archon_mcp.services.activity import ActivityService
from archon_mcp.services.transfer import import_jsonl
from tests.helpers import call, call_error

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
    browse = ActivityService(app.database, app.settings)  # what GET /api/sessions pages with
    assert (await browse.browse_sessions(agent="gemini", limit=2)).next_offset == 2
    assert (await browse.browse_sessions(agent="gemini", limit=2, offset=2)).next_offset is None
    assert (await browse.browse_sessions(agent="gemini", limit=2, offset=9_999_999)).next_offset is None


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
def test_export_to_a_bad_path_is_one_line_and_leaves_nothing(tmp_path: Path, where: str) -> None:
    target = tmp_path / "out"
    if where == "directory":
        target.mkdir()
        expected = "it is a directory; name a file"
    else:
        target = target / "deeper" / "backup.jsonl"
        expected = "does not exist"
    before = sorted(tmp_path.rglob("*"))
    # An unreachable database: the path is checked before anything starts.
    env = _cli_env(ARCHON_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", ARCHON_DB_CONNECT_TIMEOUT="2")
    result = _cli(["export", "-o", str(target)], env)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"archon-mcp: cannot export to {target}: ") and expected in stderr
    assert sorted(tmp_path.rglob("*")) == before, "export left a file behind"


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
