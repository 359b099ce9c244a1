"""Backups and retention against the real PostgreSQL: export -> fresh database -> import round trips,
idempotent imports, line-by-line rejection reports, export filters, purge, and the CLI commands."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from archon_mcp import operations
from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.errors import InvalidInputError
from archon_mcp.schemas import AddEventRequest, CreateSessionRequest, EndSessionRequest
from archon_mcp.services.transfer import export_jsonl, import_jsonl, parse_age, purge
from tests.helpers import SharedEmbedder, create_database, make_settings

pytestmark = pytest.mark.anyio

PROJECT = str(uuid.uuid4())
OTHER_PROJECT = str(uuid.uuid4())
# Every stored column except vectors, embedding bookkeeping and the generated search_tsv.
SESSION_COLUMNS = "id, agent, project_id, started_at, ended_at, summary, metadata, created_at, updated_at"
EVENT_COLUMNS = "id, session_id, event_type, event_data, metadata, timestamp"


# --- helpers --------------------------------------------------------------------------------------
async def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of both tables (compared columns only), ordered by id."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            sessions = (await conn.execute(text(f"SELECT {SESSION_COLUMNS} FROM archon_sessions ORDER BY id"))).all()
            events = (await conn.execute(text(f"SELECT {EVENT_COLUMNS} FROM archon_session_events ORDER BY id"))).all()
    finally:
        await engine.dispose()
    return {"sessions": [dict(r._mapping) for r in sessions], "events": [dict(r._mapping) for r in events]}


async def embedding_flags(url: str) -> dict[str, bool]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, needs_embedding FROM archon_sessions "
                        "UNION ALL SELECT id, needs_embedding FROM archon_session_events"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return {str(r[0]): r[1] for r in rows}


async def execute(url: str, sql: str, **params: Any) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
    finally:
        await engine.dispose()


async def export_bytes(app: Any, **filters: Any) -> bytes:
    out = io.BytesIO()
    await export_jsonl(app.database, app.settings, out, **filters)
    return out.getvalue()


def records(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


async def seed(app: Any) -> dict[str, Any]:
    """A varied store: ended and active sessions, several agents and projects, odd but valid content."""

    async def create(agent: str, project_id: str | None = None, metadata: Any = None) -> Any:
        request = CreateSessionRequest.parse(app.settings, agent=agent, project_id=project_id, metadata=metadata)
        return await operations.create_session(app, request)

    async def event(session_id: str, event_type: str, event_data: Any, metadata: Any = None) -> None:
        values = {"session_id": session_id, "event_type": event_type, "event_data": event_data, "metadata": metadata}
        await operations.add_event(app, AddEventRequest.parse(app.settings, **values))

    async def end(session_id: str, summary: str | None = None) -> None:
        await operations.end_session(app, EndSessionRequest.parse(app.settings, session_id=session_id, summary=summary))

    first = await create("claude", PROJECT, {"branch": "main", "nested": {"deep": [1, 2.5, None, True]}})
    await event(first.id, "task_created", {"title": "Migrate DB", "task_id": "t1"})
    await event(
        first.id, "decision_made", {"decision": "use alembic ✓ 日本語 🚀", "big": 12345678901234567890}, {"source": "x"}
    )
    await event(first.id, "task_completed", {"task_id": "t1", "quote": 'it\'s "done"\n\ttabbed'})
    await end(first.id, "Migrated the database with Alembic.")
    second = await create("gemini", OTHER_PROJECT, {"key_events": ["schema_change"]})
    await event(second.id, "error_encountered", {"error": "timeout", "retry": 3})
    await end(second.id)
    bare = await create("gpt")  # no project, no summary: nothing to embed
    await end(bare.id)
    active = await create("claude", PROJECT)
    for n in range(5):
        await event(active.id, "context_shared", {"n": n})
    return {"first": first.id, "second": second.id, "bare": bare.id, "active": active.id}


@pytest.fixture
async def target(admin_url: str) -> AsyncIterator[tuple[Database, Settings, str]]:
    """A fresh, empty, migrated database to import into."""
    url = await create_database(admin_url, "archon_transfer_target")
    settings = make_settings(url)
    database = Database(settings)
    await database.start()
    try:
        yield database, settings, url
    finally:
        await database.close()


# --- round trip and idempotency -----------------------------------------------------------------
async def test_round_trip_export_then_import_into_fresh_database_gives_identical_rows(
    app, test_db_url: str, target
) -> None:
    ids = await seed(app)
    # Equal start times exercise the (started_at, id) keyset across the small export batches below.
    await execute(
        test_db_url,
        "UPDATE archon_sessions SET started_at = '2026-01-02T03:04:05.123456Z' WHERE id IN (:a, :b)",
        a=uuid.UUID(ids["second"]),
        b=uuid.UUID(ids["bare"]),
    )
    out = io.BytesIO()
    exported = await export_jsonl(app.database, app.settings, out, batch_size=2)
    assert (exported.sessions, exported.events) == (4, 9)

    lines = records(out.getvalue())
    assert lines[0]["type"] == "archon-export" and lines[0]["version"] == 1
    assert lines[0]["embedding_model"] == app.settings.resolved_embedding_model
    # Each session is followed by exactly its own events, oldest first.
    current = None
    for line in lines[1:]:
        if line["type"] == "session":
            current = line["id"]
            assert set(line) == {"type", *SESSION_COLUMNS.split(", ")}, line
        else:
            assert line["session_id"] == current, f"event {line['id']} is not after its session"
            assert set(line) == {"type", *EVENT_COLUMNS.split(", ")}, line
    assert [line["id"] for line in lines if line["type"] == "session"].count(ids["active"]) == 1

    database, settings, target_url = target
    report = await import_jsonl(database, settings, io.BytesIO(out.getvalue()), batch_size=3)
    assert report.rejected_count == 0, report.render()
    assert (report.sessions_imported, report.events_imported) == (4, 9)

    source, copy = await dump(test_db_url), await dump(target_url)
    assert len(source["sessions"]) == 4 and len(source["events"]) == 9
    assert copy == source

    flags = await embedding_flags(target_url)
    assert flags[ids["first"]] is True, "a session with a summary must be queued for embedding"
    assert flags[ids["second"]] is True, "a session with key_events must be queued for embedding"
    assert flags[ids["bare"]] is False and flags[ids["active"]] is False, "nothing to embed: not queued"
    assert all(flags[e["id"]] is True for e in lines if e["type"] == "event")


async def test_import_twice_changes_nothing(app, test_db_url: str, target) -> None:
    await seed(app)
    data = await export_bytes(app)
    database, settings, target_url = target
    first = await import_jsonl(database, settings, io.BytesIO(data))
    assert (first.sessions_imported, first.events_imported, first.sessions_skipped) == (4, 9, 0)
    after_first = await dump(target_url)

    again = await import_jsonl(database, settings, io.BytesIO(data))
    assert (again.sessions_imported, again.events_imported) == (0, 0), again.render()
    assert (again.sessions_skipped, again.events_skipped, again.rejected_count) == (4, 9, 0)
    assert await dump(target_url) == after_first

    # Into the very store it came from: everything is a duplicate, nothing is touched.
    before = await dump(test_db_url)
    same = await import_jsonl(app.database, app.settings, io.BytesIO(data))
    assert (same.sessions_imported, same.events_imported, same.sessions_skipped, same.events_skipped) == (0, 0, 4, 9)
    assert await dump(test_db_url) == before


async def test_imported_rows_are_embedded_by_the_worker_and_searchable(app, target, local_embedder) -> None:
    ids = await seed(app)
    data = await export_bytes(app)
    database, settings, target_url = target
    await import_jsonl(database, settings, io.BytesIO(data))

    from archon_mcp.app import open_app

    async with open_app(settings, embedder=SharedEmbedder(local_embedder)) as copy:
        found = await copy.search.search_sessions(
            query="database migration with alembic", threshold=0.0, mode="semantic"
        )
    assert found.pending_embeddings == 0, found
    assert found.results and found.results[0].id == ids["first"], found
    assert not any((await embedding_flags(target_url)).values()), "every imported row should be embedded"


# --- validation -----------------------------------------------------------------------------------
async def test_import_rejects_bad_lines_with_their_numbers_and_imports_the_good_ones(app, target) -> None:
    database, settings, target_url = target
    existing = await app.sessions.create_session(agent="user")  # in the source store only: unknown to the target
    good_session = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()

    def session(**fields: Any) -> dict[str, Any]:
        return {"type": "session", "id": str(uuid.uuid4()), "agent": "claude", "started_at": now, **fields}

    def event(**fields: Any) -> dict[str, Any]:
        base = {"type": "event", "id": str(uuid.uuid4()), "session_id": good_session, "event_type": "task_created"}
        return {**base, "event_data": {"title": "ok"}, "timestamp": now, **fields}

    lines = [
        json.dumps({"type": "archon-export", "version": 1}),  # 1 header
        json.dumps(session(id=good_session, summary="good one")),  # 2 good
        '{"type": "session", "id": ',  # 3 malformed JSON
        json.dumps(session(agent="mallory")),  # 4 unknown agent
        json.dumps(session(summary="bad\u0000summary")),  # 5 NUL in text
        json.dumps(event(session_id=str(uuid.uuid4()))),  # 6 event for an unknown session
        json.dumps(event(session_id=existing.id)),  # 7 session only in another database
        json.dumps(event(event_data=["not", "an", "object"])),  # 8 non-object event_data
        json.dumps({"type": "widget", "id": str(uuid.uuid4())}),  # 9 wrong record type
        json.dumps(session(agent=42)),  # 10 wrong value type
        json.dumps(event(event_data={"x": "\ud800"})),  # 11 lone surrogate
        "",  # 12 blank: ignored
        json.dumps(event()),  # 13 good
        json.dumps(session(id="not-a-uuid")),  # 14 bad id
        json.dumps(event(timestamp="yesterday")),  # 15 bad time
        json.dumps(session(colour="blue")),  # 16 unknown field
        json.dumps(session(started_at="2026-01-02T00:00:00Z", ended_at="2026-01-01T00:00:00Z")),  # 17
        "[1, 2, 3]",  # 18 not an object
        json.dumps(event(event_type="two words")),  # 19 bad event type
        json.dumps(event(metadata={"k": "v"}, event_data={"title": "also ok"})),  # 20 good
        "[" * 100_000 + "]" * 100_000,  # 21 absurd nesting
    ]
    report = await import_jsonl(database, settings, io.BytesIO("\n".join(lines).encode("utf-8", "surrogatepass")))

    reasons = dict(report.rejections)
    expected = {
        3: "not valid JSON",
        4: "unknown agent 'mallory'",
        5: "summary contains a NUL character",
        6: "is not in the database and not in this file",
        7: f"session {existing.id} is not in the database",
        8: "event_data must be a JSON object (got list)",
        9: 'type must be "session" or "event"',
        10: "agent is required",
        11: "unpaired UTF-16 surrogate",
        14: "is not a valid UUID",
        15: "timestamp 'yesterday' is not an ISO-8601 date-time",
        16: "unknown field(s) 'colour'",
        17: "ended_at 2026-01-01T00:00:00Z is before started_at",
        18: "must be a JSON object",
        19: "event_type 'two words' must be one word",
        21: "not valid JSON",
    }
    assert set(reasons) == set(expected), report.render()
    for number, fragment in expected.items():
        assert fragment in reasons[number], f"line {number}: {reasons[number]!r} should mention {fragment!r}"
    assert report.rejected_count == len(expected)
    assert (report.sessions_imported, report.events_imported) == (1, 2), report.render()
    assert "line 8: event_data must be a JSON object" in report.render()

    stored = await dump(target_url)
    assert [str(s["id"]) for s in stored["sessions"]] == [good_session]
    assert sorted(e["event_data"]["title"] for e in stored["events"]) == ["also ok", "ok"]


async def test_import_refuses_a_newer_format_version(target) -> None:
    database, settings, target_url = target
    data = json.dumps({"type": "archon-export", "version": 2}).encode() + b"\n"
    with pytest.raises(InvalidInputError, match="version 2 is not supported"):
        await import_jsonl(database, settings, io.BytesIO(data))
    assert await dump(target_url) == {"sessions": [], "events": []}


async def test_import_rejects_an_oversized_line_without_reading_it_whole(target) -> None:
    database, _, target_url = target
    settings = make_settings(target_url, max_json_bytes=256, max_summary_chars=100)
    sid = str(uuid.uuid4())
    good = {"type": "session", "id": sid, "agent": "claude", "started_at": "2026-01-01T00:00:00Z"}
    data = b'{"type": "session", "summary": "' + b"x" * 2_000_000 + b'"}\n' + json.dumps(good).encode()
    report = await import_jsonl(database, settings, io.BytesIO(data))
    assert report.rejections == [(1, report.rejections[0][1])] and "longer than" in report.rejections[0][1]
    assert report.sessions_imported == 1


# --- export filters -------------------------------------------------------------------------------
async def test_export_filters_by_agent_project_and_since(app, test_db_url: str) -> None:
    ids = await seed(app)
    await execute(
        test_db_url,
        "UPDATE archon_sessions SET started_at = now() - interval '30 days' WHERE id = :id",
        id=uuid.UUID(ids["first"]),
    )

    def session_ids(data: bytes) -> set[str]:
        return {r["id"] for r in records(data) if r["type"] == "session"}

    def event_sessions(data: bytes) -> set[str]:
        return {r["session_id"] for r in records(data) if r["type"] == "event"}

    claude = await export_bytes(app, agent="claude")
    assert session_ids(claude) == {ids["first"], ids["active"]}
    assert event_sessions(claude) == {ids["first"], ids["active"]}
    assert records(claude)[0]["filters"] == {"agent": "claude"}

    other = await export_bytes(app, project_id=OTHER_PROJECT)
    assert session_ids(other) == {ids["second"]} and event_sessions(other) == {ids["second"]}

    recent = await export_bytes(app, since=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    assert session_ids(recent) == {ids["second"], ids["bare"], ids["active"]}
    assert ids["first"] not in event_sessions(recent)

    both = await export_bytes(app, agent="claude", project_id=PROJECT, since="2000-01-01")
    assert session_ids(both) == {ids["first"], ids["active"]}

    with pytest.raises(InvalidInputError, match="unknown agent"):
        await export_bytes(app, agent="nobody")
    with pytest.raises(InvalidInputError, match="not a valid UUID"):
        await export_bytes(app, project_id="proj-1")


# --- purge ----------------------------------------------------------------------------------------
async def test_purge_dry_run_changes_nothing_then_deletes_only_old_ended_sessions(app, test_db_url: str) -> None:
    ids = await seed(app)
    # first: ended 100 days ago (3 events); second: ended 10 days ago; bare: ended 200 days ago (gpt);
    # active: started 300 days ago and never ended.
    for key, days in (("first", 100), ("second", 10), ("bare", 200)):
        await execute(
            test_db_url,
            "UPDATE archon_sessions SET started_at = now() - make_interval(days => :d + 1), "
            "ended_at = now() - make_interval(days => :d) WHERE id = :id",
            d=days,
            id=uuid.UUID(ids[key]),
        )
    await execute(
        test_db_url,
        "UPDATE archon_sessions SET started_at = now() - interval '300 days' WHERE id = :id",
        id=uuid.UUID(ids["active"]),
    )
    before = await dump(test_db_url)

    dry = await purge(app.database, app.settings, older_than="90d", dry_run=True)
    assert (dry.sessions, dry.events, dry.dry_run) == (2, 3, True)
    assert "would delete 2 sessions and 3 events" in dry.render()
    assert await dump(test_db_url) == before, "--dry-run must change nothing"

    only_gpt = await purge(app.database, app.settings, older_than="90d", agent="gpt")
    assert (only_gpt.sessions, only_gpt.events) == (1, 0)

    done = await purge(app.database, app.settings, older_than="12w", batch_size=1)
    assert (done.sessions, done.events) == (1, 3)
    after = await dump(test_db_url)
    assert {str(s["id"]) for s in after["sessions"]} == {ids["second"], ids["active"]}
    assert {str(e["session_id"]) for e in after["events"]} == {ids["second"], ids["active"]}
    assert len(after["events"]) == len(before["events"]) - 3

    nothing = await purge(app.database, app.settings, older_than="2w")
    assert (nothing.sessions, nothing.events) == (0, 0)
    assert await dump(test_db_url) == after


def test_parse_age_accepts_hours_days_weeks_and_rejects_the_rest() -> None:
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("2W") == timedelta(weeks=2)
    for bad in ("", "90", "d90", "1.5d", "-3d", "0d", "3y", "99999999d", None):
        with pytest.raises(InvalidInputError):
            parse_age(bad)


# --- the CLI --------------------------------------------------------------------------------------
def _cli(args: list[str], url: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    env.update(ARCHON_DATABASE_URL=url, HF_HUB_OFFLINE="1", ARCHON_LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "-m", "archon_mcp", *args], env=env, input=stdin, capture_output=True, timeout=120
    )


@pytest.mark.slow
async def test_cli_export_import_and_purge(app, test_db_url: str, target, tmp_path) -> None:
    ids = await seed(app)
    _, _, target_url = target

    exported = _cli(["export", "--agent", "claude"], test_db_url)
    assert exported.returncode == 0, exported.stderr.decode()
    lines = records(exported.stdout)
    assert lines[0]["type"] == "archon-export"
    assert {r["id"] for r in lines if r["type"] == "session"} == {ids["first"], ids["active"]}
    assert b"exported 2 sessions and 8 events" in exported.stderr

    backup = tmp_path / "backup.jsonl"
    to_file = _cli(["export", "--output", str(backup)], test_db_url)
    assert to_file.returncode == 0 and to_file.stdout == b"", to_file.stderr.decode()
    assert oct(backup.stat().st_mode & 0o777) == oct(0o600)
    assert len(records(backup.read_bytes())) == 1 + 4 + 9

    imported = _cli(["import", str(backup)], target_url)
    assert imported.returncode == 0, imported.stderr.decode()
    assert b"imported: 4 sessions, 9 events" in imported.stdout
    assert await dump(target_url) == await dump(test_db_url)

    bad = backup.read_bytes() + b'{"type": "event", "id": "x"}\n'
    again = _cli(["import", "-"], target_url, stdin=bad)
    assert again.returncode == 1, again.stdout.decode()
    out = again.stdout.decode()
    assert "imported: 0 sessions, 0 events" in out and "4 sessions, 9 events" in out
    assert "line 15: id 'x' is not a valid UUID" in out

    await execute(
        target_url,
        "UPDATE archon_sessions SET ended_at = now() - interval '100 days' WHERE id = :id",
        id=uuid.UUID(ids["first"]),
    )
    dry = _cli(["purge", "--older-than", "90d", "--dry-run"], target_url)
    assert dry.returncode == 0 and b"would delete 1 sessions and 3 events" in dry.stdout, dry.stderr.decode()
    real = _cli(["purge", "--older-than", "90d"], target_url)
    assert real.returncode == 0 and b"deleted 1 sessions and 3 events" in real.stdout, real.stderr.decode()
    assert ids["first"] not in {str(s["id"]) for s in (await dump(target_url))["sessions"]}

    missing = _cli(["purge"], target_url)
    assert missing.returncode == 2 and b"--older-than" in missing.stderr
    wrong = _cli(["purge", "--older-than", "soon"], target_url)
    assert wrong.returncode == 1 and b"is not an age" in wrong.stderr
