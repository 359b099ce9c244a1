"""Client hooks against the real store: `archon-mcp hook claude-code` / `gemini-cli` run as the client runs
them (a subprocess per event, the payload on stdin), the helper process they start, projects by name,
stale sessions with a fixed clock, and redaction of tool input at the service layer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from archon_mcp.db import Database
from archon_mcp.hooks._client import HookPaths, request
from archon_mcp.services.hooks import HookRecorder
from archon_mcp.services.projects import ProjectService
from archon_mcp.services.resume import ResumeService
from archon_mcp.services.sessions import SessionService
from archon_mcp.services.stale import end_stale_sessions
from archon_mcp.services.summaries import SummaryService
from tests.helpers import empty_tables, make_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hooks"
OPENAI_KEY = "sk-proj-" + "Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12"


# --- running the hook as the client does --------------------------------------------------------------
@dataclass
class HookRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class HookEnv:
    env: dict[str, str]
    data_dir: Path
    paths: HookPaths
    workspace: Path

    def run(self, client: str, payload: Any) -> HookRun:
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "archon_mcp", "hook", client],
            input=raw,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workspace,
            timeout=120,
        )
        return HookRun(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)

    async def hook(self, client: str, payload: Any) -> HookRun:
        return await anyio.to_thread.run_sync(self.run, client, payload)

    async def drain(self) -> None:
        """Wait until the helper stored every spooled record and finished its background summaries."""
        reply = await anyio.to_thread.run_sync(lambda: request(self.paths, {"action": "drain"}, 60))
        assert reply == {"drained": True}, reply

    async def status(self) -> dict[str, Any]:
        reply = await anyio.to_thread.run_sync(lambda: request(self.paths, {"action": "status"}, 10))
        assert reply is not None, "no hook helper is running"
        return reply

    def log(self) -> str:
        return self.paths.log.read_text() if self.paths.log.exists() else ""


def stop_helper(paths: HookPaths) -> None:
    try:
        request(paths, {"action": "shutdown"}, 10)
    except OSError:
        pass
    deadline = time.monotonic() + 30
    while paths.pid.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
async def hook_env(test_db_url: str):
    data_dir = Path(tempfile.mkdtemp(prefix="archon-hk-"))  # short: the socket path must stay under ~100 bytes
    workspace = data_dir / "work"
    workspace.mkdir()
    env = {
        **os.environ,
        "ARCHON_DATABASE_URL": test_db_url,
        "ARCHON_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
        "ARCHON_HOOK_DAEMON_IDLE_SECONDS": "120",
        "ARCHON_HOOK_CONTEXT_TOKENS": "1500",
    }
    env.pop("ARCHON_REDACT", None)
    paths = HookPaths(data_dir)
    try:
        yield HookEnv(env, data_dir, paths, workspace)
    finally:
        await anyio.to_thread.run_sync(stop_helper, paths)
        await empty_tables(test_db_url)
        shutil.rmtree(data_dir, ignore_errors=True)


def git_repo(base: Path, name: str) -> Path:
    root = base / name
    (root / ".git").mkdir(parents=True)
    (root / "src").mkdir()
    return root


def claude(kind: str, cwd: Path, session: str, **fields: Any) -> dict[str, Any]:
    fixtures = json.loads((FIXTURES / "claude_code.json").read_text().replace("{cwd}", str(cwd)))
    return {**fixtures[kind], "session_id": session, **fields}


def gemini(kind: str, cwd: Path, session: str, **fields: Any) -> dict[str, Any]:
    fixtures = json.loads((FIXTURES / "gemini_cli.json").read_text().replace("{cwd}", str(cwd)))
    return {**fixtures[kind], "session_id": session, **fields}


# --- the store, read directly -------------------------------------------------------------------------
@pytest.fixture
async def database(settings):
    db = Database(settings)
    await db.start(migrate=False, check_embedding=False)
    yield db
    await db.close()


async def rows(database: Database, sql: str, **params: Any) -> list[Any]:
    async with database.session() as db:
        return list((await db.execute(text(sql), params)).all())


async def hook_sessions(database: Database, client_session: str) -> list[Any]:
    return await rows(
        database,
        "SELECT id, agent, project_id, ended_at, summary, metadata FROM archon_sessions "
        "WHERE metadata ->> 'hook_session_id' = :s",
        s=client_session,
    )


async def events_of(database: Database, session_id: uuid.UUID) -> list[Any]:
    return await rows(
        database,
        "SELECT event_type, event_data, metadata, needs_embedding FROM archon_session_events "
        "WHERE session_id = :s ORDER BY timestamp, id",
        s=session_id,
    )


def context_of(run: HookRun) -> str:
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)
    assert payload["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    return payload["hookSpecificOutput"]["additionalContext"]


# --- a whole Claude Code session, then the next one ---------------------------------------------------
async def test_a_claude_code_session_is_recorded_and_handed_to_the_next(hook_env: HookEnv, database) -> None:
    repo = git_repo(hook_env.workspace, "billing-api")
    cwd = repo / "src"
    sid = "cc-" + uuid.uuid4().hex[:8]

    first = await hook_env.hook("claude-code", claude("SessionStart", cwd, sid))
    assert "No earlier sessions of this project yet." in context_of(first)
    steps = [
        claude("UserPromptSubmit", cwd, sid, prompt=f"Fix the invoice total test. Key: {OPENAI_KEY}"),
        claude("PostToolUse_Edit", cwd, sid, tool_input={"file_path": str(repo / "src/invoice.py")}, tool_use_id="t-1"),
        claude(
            "PostToolUseFailure_Bash",
            cwd,
            sid,
            tool_input={"command": "pytest tests/test_invoice.py"},
            tool_use_id="t-2",
            error="Exit code 1\nFAILED tests/test_invoice.py::test_total - AssertionError: 10 != 12",
        ),
        claude(
            "PostToolUse_Bash",
            cwd,
            sid,
            tool_input={"command": "pytest tests/test_invoice.py"},
            tool_use_id="t-3",
            tool_response={"stdout": "1 passed", "stderr": "", "interrupted": False, "isImage": False},
        ),
        claude(
            "PostToolUse_TodoWrite",
            cwd,
            sid,
            tool_use_id="t-4",
            tool_input={"todos": []},
            tool_response={
                "oldTodos": [],
                "newTodos": [
                    {"content": "Fix invoice total", "status": "completed", "id": "1"},
                    {"content": "Add a VAT rounding test", "status": "pending", "id": "2"},
                ],
            },
        ),
        claude("PostToolUse_Read", cwd, sid),
        claude("UserPromptSubmit", cwd, sid, prompt="Thanks, that is all for now"),
        claude("Stop", cwd, sid),
        claude("SessionEnd", cwd, sid, reason="prompt_input_exit"),
    ]
    for payload in steps:
        run = await hook_env.hook("claude-code", payload)
        assert (run.returncode, run.stdout) == (0, ""), (payload["hook_event_name"], run.stderr)
    await hook_env.drain()

    [session] = await hook_sessions(database, sid)
    assert session.agent == "claude" and session.ended_at is not None
    assert session.metadata["project"] == "billing-api" and session.metadata["ended_by"] == "hook"
    assert session.metadata["summary_status"] == "done" and session.summary, session.metadata
    names = await ProjectService(database).names([session.project_id])
    assert names == {str(session.project_id): "billing-api"}

    events = await events_of(database, session.id)
    kinds = [e.event_type for e in events]
    assert kinds == [
        "user_prompt",
        "file_edited",
        "command_run",
        "error_encountered",
        "command_run",
        "error_resolved",
        "task_created",
        "task_completed",
        "task_created",
        "user_prompt",
    ], kinds
    assert events[1].event_data["path"].endswith("src/invoice.py")
    assert events[2].event_data["exit_status"] == 1 and events[4].event_data["exit_status"] == 0
    assert "AssertionError: 10 != 12" in events[3].event_data["error"]
    assert events[5].event_data["error"] == events[3].event_data["error"]
    stored = json.dumps([e.event_data for e in events])
    assert OPENAI_KEY not in stored and "[REDACTED:openai_key]" in stored
    assert all(e.needs_embedding for e in events)  # embedded later by a server or `reembed`, not here

    status = await hook_env.status()
    assert status["heavy_modules"] == [], "the hook helper must not load torch or the embedding model"

    # The next session of the same project starts with the first one's open work.
    second = await hook_env.hook("claude-code", claude("SessionStart", cwd, "cc-" + uuid.uuid4().hex[:8]))
    context = context_of(second)
    assert "(project billing-api)" in context
    assert str(session.id) in context and "Add a VAT rounding test" in context
    assert "## Unresolved errors" not in context, "the error was fixed by the passing run"
    assert len(second.stdout) <= 1500 * 4  # ARCHON_HOOK_CONTEXT_TOKENS, counted on the printed text


async def test_the_context_budget_is_measured_on_the_printed_text(hook_env: HookEnv, database) -> None:
    repo = git_repo(hook_env.workspace, "big-project")
    sid = "cc-" + uuid.uuid4().hex[:8]
    await hook_env.hook("claude-code", claude("SessionStart", repo, sid))
    todos = [{"content": f"Task number {i} " + "with a long description " * 4, "status": "pending"} for i in range(60)]
    await hook_env.hook(
        "claude-code",
        claude("PostToolUse_TodoWrite", repo, sid, tool_input={"todos": todos}, tool_response={}, tool_use_id="t-9"),
    )
    await hook_env.hook("claude-code", claude("SessionEnd", repo, sid))
    await hook_env.drain()
    hook_env.env["ARCHON_HOOK_CONTEXT_TOKENS"] = "400"
    stop_helper(hook_env.paths)  # the helper reads its settings when it starts
    run = await hook_env.hook("claude-code", claude("SessionStart", repo, "cc-next"))
    context = context_of(run)
    assert len(run.stdout) <= 400 * 4, len(run.stdout)
    assert "Task number 0" in context and "(trimmed to fit" in context


async def test_a_broken_payload_exits_0_with_nothing_on_stdout_and_a_log_line(hook_env: HookEnv) -> None:
    for raw in ("not json", "[1, 2]", json.dumps({"session_id": "x"})):
        run = await hook_env.hook("claude-code", raw)
        assert (run.returncode, run.stdout) == (0, ""), run.stderr
    log = hook_env.log()
    assert "claude-code hook failed: ValueError: the payload is not JSON" in log
    assert "PayloadError: the payload is a JSON list" in log
    assert "PayloadError: the payload has no hook_event_name" in log


async def test_a_store_that_cannot_be_reached_costs_the_client_nothing(hook_env: HookEnv) -> None:
    hook_env.env["ARCHON_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    run = await hook_env.hook("claude-code", claude("UserPromptSubmit", hook_env.workspace, "cc-x", prompt="hi"))
    assert (run.returncode, run.stdout) == (0, "")
    assert run.seconds < 5
    assert list(hook_env.paths.spool.glob("*.json")), "the event waits in the spool for a helper that can store it"


async def test_events_written_before_the_helper_runs_are_stored(hook_env: HookEnv, database) -> None:
    sid = "cc-" + uuid.uuid4().hex[:8]
    run = await hook_env.hook("claude-code", claude("UserPromptSubmit", hook_env.workspace, sid, prompt="first"))
    assert (run.returncode, run.stdout) == (0, "")
    deadline = time.monotonic() + 60
    while request(hook_env.paths, {"action": "status"}, 5) is None and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # another process's socket: no event to wait on
    await hook_env.drain()
    [session] = await hook_sessions(database, sid)
    assert [e.event_data for e in await events_of(database, session.id)] == [{"prompt": "first"}]


async def test_a_retried_hook_stores_nothing_twice_and_a_session_ends_once(hook_env: HookEnv, database) -> None:
    sid = "cc-" + uuid.uuid4().hex[:8]
    cwd = hook_env.workspace
    edit = claude("PostToolUse_Write", cwd, sid, tool_use_id="toolu-retry")
    for payload in (claude("SessionStart", cwd, sid), edit, edit, claude("SessionEnd", cwd, sid)):
        await hook_env.hook("claude-code", payload)
    await hook_env.drain()
    [session] = await hook_sessions(database, sid)
    await hook_env.hook("claude-code", claude("SessionEnd", cwd, sid))
    await hook_env.drain()
    [again] = await hook_sessions(database, sid)
    assert again.ended_at == session.ended_at
    assert [e.event_type for e in await events_of(database, session.id)] == ["file_edited"]


async def test_the_same_project_name_from_two_clients_is_one_project(hook_env: HookEnv, database) -> None:
    one = git_repo(hook_env.workspace / "a", "Billing-API")
    two = git_repo(hook_env.workspace / "b", "billing-api")
    await hook_env.hook("claude-code", claude("SessionStart", one / "src", "cc-one"))
    run = await hook_env.hook("gemini-cli", gemini("SessionStart", two, "gm-two"))
    assert json.loads(run.stdout)["hookSpecificOutput"]["additionalContext"].startswith(
        "# Resume context for gemini (project billing-api)"
    )
    [a] = await hook_sessions(database, "cc-one")
    [b] = await hook_sessions(database, "gm-two")
    assert (a.agent, b.agent) == ("claude", "gemini")
    assert a.project_id is not None and a.project_id == b.project_id
    assert await ProjectService(database).resolve(project="BILLING-api ") == a.project_id


# --- in-process: projects, races, stale sessions, redaction -------------------------------------------
@dataclass
class Services:
    database: Database
    sessions: SessionService
    summaries: SummaryService
    projects: ProjectService
    recorder: HookRecorder


@pytest.fixture
async def services(settings, test_db_url: str):
    database = Database(settings)
    await database.start(migrate=False, check_embedding=False)
    sessions = SessionService(database, settings, lambda: None)
    summaries = SummaryService(database, sessions, settings)
    projects = ProjectService(database)
    recorder = HookRecorder(database, settings, sessions, summaries, ResumeService(database, None, settings), projects)
    yield Services(database, sessions, summaries, projects, recorder)
    await summaries.aclose()
    await database.close()
    await empty_tables(test_db_url)


async def test_concurrent_clients_naming_a_new_project_get_one_id(services: Services) -> None:
    refs = await asyncio.gather(*(services.projects.get_or_create(n) for n in ["api", "API", " api", "Api "] * 5))
    assert len({r.id for r in refs}) == 1
    assert {r.name for r in refs} <= {"api", "API", "Api"}
    assert await services.projects.resolve(project_id=str(refs[0].id)) == refs[0].id  # UUIDs keep working
    with pytest.raises(Exception, match="not project_id"):
        await services.projects.resolve(project="api", project_id=str(uuid.uuid4()))
    with pytest.raises(Exception, match="no project is called"):
        await services.projects.resolve(project="never-named", create=False)


async def test_two_hooks_racing_on_one_client_session_make_one_session(services: Services) -> None:
    record = {
        "v": 1,
        "client": "claude-code",
        "agent": "claude",
        "session": "race-1",
        "action": "start",
        "project": "racer",
        "cwd": "/tmp/racer",
        "source": "startup",
        "events": [],
    }
    # Two helpers (two recorders) at once: the database advisory lock, not an in-process lock, decides.
    other = HookRecorder(
        services.database,
        services.recorder._settings,
        services.sessions,
        services.summaries,
        ResumeService(services.database, None, services.recorder._settings),
        services.projects,
    )
    await asyncio.gather(services.recorder.handle(dict(record)), other.handle(dict(record)))
    found = await rows(
        services.database, "SELECT id FROM archon_sessions WHERE metadata ->> 'hook_session_id' = 'race-1'"
    )
    assert len(found) == 1


async def test_stale_sessions_end_by_themselves_with_a_fixed_clock(services: Services) -> None:
    settings = services.recorder._settings
    old = await services.sessions.create_session(agent="claude")
    await services.sessions.add_event(
        session_id=uuid.UUID(old.id),
        event_type="task_created",
        event_data={"task_id": "7", "title": "Ship the exporter"},
    )
    fresh = await services.sessions.create_session(agent="claude")
    await services.sessions.add_event(
        session_id=uuid.UUID(fresh.id), event_type="decision_made", event_data={"decision": "use JSON Lines"}
    )
    empty = await services.sessions.create_session(agent="gemini")
    now = datetime.now(UTC)
    async with services.database.session() as db, db.begin():
        await db.execute(
            text("UPDATE archon_sessions SET started_at = :t WHERE id IN (:a, :b)"),
            {"t": now - timedelta(hours=30), "a": uuid.UUID(old.id), "b": uuid.UUID(empty.id)},
        )
        await db.execute(
            text("UPDATE archon_session_events SET timestamp = :t WHERE session_id = :a"),
            {"t": now - timedelta(hours=20), "a": uuid.UUID(old.id)},
        )

    # 11 hours after the old session's last event is not yet stale (ARCHON_STALE_SESSION_HOURS = 12) ...
    assert settings.stale_session_hours == 12
    early = await end_stale_sessions(
        services.database, settings, services.summaries, clock=lambda: now - timedelta(hours=9)
    )
    assert early == [empty.id]
    # ... now (20 h after it) it is; the fresh one is kept.
    ended = await end_stale_sessions(services.database, settings, services.summaries, clock=lambda: now)
    assert ended == [old.id]
    await services.summaries.wait_background()

    got = {
        r.id: r for r in await rows(services.database, "SELECT id, ended_at, summary, metadata FROM archon_sessions")
    }
    stale = got[uuid.UUID(old.id)]
    assert stale.metadata["ended_by"] == "stale" and stale.metadata["summary_status"] == "done"
    assert "Ship the exporter" in stale.summary
    assert abs((stale.ended_at - (now - timedelta(hours=20))).total_seconds()) < 1  # ended at its last event
    assert got[uuid.UUID(fresh.id)].ended_at is None
    assert got[uuid.UUID(empty.id)].metadata["ended_by"] == "stale"

    context = await ResumeService(services.database, None, settings).resume_context(agent="claude")
    assert context.last_session is not None and context.last_session.id == fresh.id
    assert context.last_session.is_active


async def test_the_session_start_hook_sweeps_stale_sessions(services: Services) -> None:
    abandoned = await services.sessions.create_session(agent="claude")
    async with services.database.session() as db, db.begin():
        await db.execute(
            text("UPDATE archon_sessions SET started_at = now() - interval '2 days' WHERE id = :a"),
            {"a": uuid.UUID(abandoned.id)},
        )
    record = {
        "v": 1,
        "client": "claude-code",
        "agent": "claude",
        "session": "sweep-1",
        "action": "start",
        "project": None,
        "events": [],
        "want_context": True,
    }
    output = await services.recorder.handle(record)
    assert "ended by itself" in json.loads(output)["hookSpecificOutput"]["additionalContext"]
    [row] = await rows(
        services.database, "SELECT metadata FROM archon_sessions WHERE id = :a", a=uuid.UUID(abandoned.id)
    )
    assert row.metadata["ended_by"] == "stale"


async def test_tool_input_is_redacted_only_with_redact_all(test_db_url: str, services: Services) -> None:
    secret = f"OPENAI_API_KEY={OPENAI_KEY}"
    kept = await services.sessions.add_event(
        session_id=uuid.UUID((await services.sessions.create_session(agent="claude")).id),
        event_type="context_shared",
        event_data={"note": secret},
    )
    assert kept.event_data == {"note": secret}  # ARCHON_REDACT=hooks (default): tool input as given

    strict = SessionService(services.database, make_settings(test_db_url, redact="all"), lambda: None)
    session = await strict.create_session(agent="claude", metadata={"db": "postgres://app:hunter2@db/x"})
    assert session.metadata == {"db": "postgres://app:[REDACTED:password]@db/x"}
    event = await strict.add_event(
        session_id=uuid.UUID(session.id),
        event_type="context_shared",
        event_data={"note": secret, "password": "hunter2"},
    )
    assert event.event_data == {"note": "OPENAI_API_KEY=[REDACTED:openai_key]", "password": "[REDACTED:secret]"}
    batch = await strict.add_events(
        session_id=uuid.UUID(session.id),
        events=[{"event_type": "x_y", "event_data": {"t": f"Bearer {'z' * 30}"}, "metadata": {}}],
    )
    [stored] = await rows(
        services.database, "SELECT event_data FROM archon_session_events WHERE id = :i", i=uuid.UUID(batch.ids[0])
    )
    assert stored.event_data == {"t": "Bearer [REDACTED:bearer]"}
    ended = await strict.end_session(session_id=uuid.UUID(session.id), summary=f"used {OPENAI_KEY}")
    assert ended.summary == "used [REDACTED:openai_key]"


async def test_a_record_delivered_twice_is_stored_once(services: Services) -> None:
    """A hook that timed out waiting for the helper spools its record, which the helper may have stored
    already: the record's id keys its events."""
    record = {
        "v": 1,
        "id": "0123abcd",
        "client": "claude-code",
        "agent": "claude",
        "session": "twice-1",
        "action": "events",
        "project": None,
        "events": [{"event_type": "user_prompt", "event_data": {"prompt": "same words"}}],
    }
    await services.recorder.handle(dict(record))
    await services.recorder.handle(dict(record))
    await services.recorder.handle({**record, "id": "99999999"})  # the same words typed again: a new record
    found = await rows(
        services.database,
        "SELECT e.event_data FROM archon_session_events e JOIN archon_sessions s ON s.id = e.session_id "
        "WHERE s.metadata ->> 'hook_session_id' = 'twice-1'",
    )
    assert [r.event_data for r in found] == [{"prompt": "same words"}] * 2


async def test_a_running_server_sweeps_stale_sessions_in_the_background(services: Services, test_db_url: str) -> None:
    from archon_mcp.services.stale import stale_sweeper

    settings = make_settings(test_db_url)
    settings.stale_check_seconds = 0.05  # not validated on assignment: a test-only interval
    abandoned = await services.sessions.create_session(agent="claude")
    async with services.database.session() as db, db.begin():
        await db.execute(
            text("UPDATE archon_sessions SET started_at = now() - interval '13 hours' WHERE id = :a"),
            {"a": uuid.UUID(abandoned.id)},
        )
    task = asyncio.create_task(stale_sweeper(services.database, settings, services.summaries))
    try:
        with anyio.fail_after(20):
            while True:
                [row] = await rows(
                    services.database,
                    "SELECT ended_at, metadata FROM archon_sessions WHERE id = :a",
                    a=uuid.UUID(abandoned.id),
                )
                if row.ended_at is not None:
                    break
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert row.metadata["ended_by"] == "stale"


def test_the_hook_command_imports_no_heavy_library(tmp_path: Path) -> None:
    """The hook process runs on every client event: standard library only (no typer, pydantic,
    SQLAlchemy, torch); the helper process does the rest."""
    payload = json.dumps(
        {"session_id": "x", "cwd": str(tmp_path), "hook_event_name": "PostToolUse", "tool_name": "Read"}
    )
    env = {**os.environ, "ARCHON_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "archon_mcp", "hook", "claude-code"],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "")
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "archon_mcp" in imported
    assert not imported & {"typer", "pydantic", "pydantic_settings", "sqlalchemy", "asyncpg", "torch", "mcp"}, sorted(
        imported
    )
