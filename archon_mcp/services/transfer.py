"""Backups and retention: export to JSON Lines, import them back (validated line by line, ids kept,
idempotent), and purge sessions that ended long ago.

The export format, one JSON object per line:

    {"type": "archon-export", "version": 1, "exported_at": ..., "embedding_model": ..., ...}
    {"type": "session", "id", "agent", "project_id", "started_at", "ended_at", "summary", "metadata",
     "created_at", "updated_at"}
    {"type": "event", "id", "session_id", "event_type", "event_data", "metadata", "timestamp"}   (its events)

Vectors are not exported: an import marks rows pending, and the embedding worker of a running
server (or `archon-mcp reembed`) embeds them with whatever model that store uses.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import session_text
from archon_mcp.errors import InvalidInputError
from archon_mcp.repositories import transfer as repo
from archon_mcp.schemas import _checks as v

EXPORT_FORMAT = "archon-export"
EXPORT_VERSION = 1
# Only the first rejections are kept for the report; the rest are counted (memory stays flat).
MAX_REPORTED_REJECTIONS = 1000

_SESSION_KEYS = frozenset(
    {"type", "id", "agent", "project_id", "started_at", "ended_at", "summary", "metadata", "created_at", "updated_at"}
)
_EVENT_KEYS = frozenset({"type", "id", "session_id", "event_type", "event_data", "metadata", "timestamp"})
_AGE = re.compile(r"^\s*(\d{1,7})\s*([hdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_MAX_AGE = timedelta(days=100 * 366)


# --- export ---------------------------------------------------------------------------------------
@dataclass
class ExportResult:
    sessions: int = 0
    events: int = 0


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def _session_record(row: Any) -> dict[str, Any]:
    return {
        "type": "session",
        "id": str(row.id),
        "agent": row.agent,
        "project_id": str(row.project_id) if row.project_id else None,
        "started_at": _time(row.started_at),
        "ended_at": _time(row.ended_at),
        "summary": row.summary,
        "metadata": row.metadata,
        "created_at": _time(row.created_at),
        "updated_at": _time(row.updated_at),
    }


def _event_record(row: Any) -> dict[str, Any]:
    return {
        "type": "event",
        "id": str(row.id),
        "session_id": str(row.session_id),
        "event_type": row.event_type,
        "event_data": row.event_data,
        "metadata": row.metadata,
        "timestamp": _time(row.timestamp),
    }


async def export_jsonl(
    database: Database,
    settings: Settings,
    out: BinaryIO,
    *,
    agent: str | None = None,
    project_id: str | None = None,
    since: str | None = None,
    batch_size: int = 500,
) -> ExportResult:
    """Write a header, then each matching session (oldest first) followed by its events (the filters
    are the command line's text, checked here). One
    REPEATABLE READ transaction gives a consistent snapshot; sessions come in keyset-paged batches
    and their events through a server-side cursor, so memory does not grow with the store."""
    agent_name = v.check_agent(agent, settings) if agent is not None else None
    project = v.parse_optional_uuid(project_id, "project_id")
    start = v.parse_datetime(since, "since")
    filters = {"agent": agent_name, "project_id": project, "since": start}
    stored = await database.stored_embedding_config()
    header: dict[str, Any] = {
        "type": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _time(datetime.now(UTC)),
        "embedding_model": stored.model if stored else settings.resolved_embedding_model,
        "embedding_dimensions": stored.dimensions if stored else settings.resolved_embedding_dimensions,
        "filters": {k: str(value) if k == "project_id" else value for k, value in filters.items() if value is not None},
    }
    if start is not None:
        header["filters"]["since"] = _time(start)
    out.write(_line(header))
    result = ExportResult()
    async with database.session() as db:
        await db.connection(execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            sessions = await repo.session_batch(
                db, after=after, limit=batch_size, agent=agent_name, project_id=project, since=start
            )
            if not sessions:
                break
            written = 0  # sessions of this batch already written
            async for events in repo.stream_events(db, [s.id for s in sessions]):
                for event in events:
                    # Events arrive grouped by session in batch order: write the sessions up to this one.
                    while written == 0 or sessions[written - 1].id != event.session_id:
                        out.write(_line(_session_record(sessions[written])))
                        written += 1
                    out.write(_line(_event_record(event)))
                result.events += len(events)
            for row in sessions[written:]:
                out.write(_line(_session_record(row)))
            result.sessions += len(sessions)
            if len(sessions) < batch_size:
                break
            after = (sessions[-1].started_at, sessions[-1].id)
    return result


# --- import ---------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    sessions_imported: int = 0
    events_imported: int = 0
    sessions_skipped: int = 0  # already in the database (same id): left untouched
    events_skipped: int = 0
    rejected_count: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), the first ones

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejections) < MAX_REPORTED_REJECTIONS:
            self.rejections.append((line, reason))

    def render(self) -> str:
        lines = [
            f"imported: {self.sessions_imported} sessions, {self.events_imported} events",
            f"skipped as duplicates (id already stored): {self.sessions_skipped} sessions, "
            f"{self.events_skipped} events",
            f"rejected: {self.rejected_count} lines",
        ]
        lines += [f"line {number}: {reason}" for number, reason in sorted(self.rejections)]
        if self.rejected_count > len(self.rejections):
            lines.append(f"... and {self.rejected_count - len(self.rejections)} more rejected lines")
        return "\n".join(lines)


def max_line_bytes(settings: Settings) -> int:
    """The longest line an import reads: a session with the largest summary and metadata, generously
    escaped (\\uXXXX is 6 bytes per character), plus room for the other fields."""
    return 6 * (settings.max_summary_chars + 2 * settings.max_json_bytes) + 64 * 1024


def _read_lines(source: BinaryIO, limit: int):
    """(line number, bytes or None when the line is longer than `limit`), without ever holding more
    than `limit` bytes of one line."""
    number = 0
    while True:
        raw = source.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the oversized line
                raw = source.readline(64 * 1024)
            yield number, None
            continue
        yield number, raw


def _required_time(record: dict[str, Any], key: str) -> datetime:
    moment = v.parse_datetime(record.get(key), key)
    if moment is None:
        raise InvalidInputError(f"{key} is required: an ISO-8601 date-time, e.g. 2026-01-31T09:00:00Z")
    return moment


def _check_keys(record: dict[str, Any], allowed: frozenset[str], kind: str) -> None:
    unknown = sorted(set(record) - allowed)
    if unknown:
        names = ", ".join(repr(k[:40]) for k in unknown[:5])
        raise InvalidInputError(f"unknown field(s) {names} in a {kind} line; allowed: {', '.join(sorted(allowed))}")


def _session_row(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    _check_keys(record, _SESSION_KEYS, "session")
    started = _required_time(record, "started_at")
    ended = v.parse_datetime(record.get("ended_at"), "ended_at")
    if ended is not None and ended < started:
        raise InvalidInputError(f"ended_at {_time(ended)} is before started_at {_time(started)}")
    summary = v.check_text(record.get("summary"), "summary", settings.max_summary_chars, required=False)
    metadata = v.check_json_object(record.get("metadata"), "metadata", settings, required=False)
    return {
        "id": v.parse_uuid(record.get("id"), "id"),
        "agent": v.check_agent(record.get("agent"), settings),
        "project_id": v.parse_optional_uuid(record.get("project_id"), "project_id"),
        "started_at": started,
        "ended_at": ended,
        "summary": summary,
        "metadata_": metadata,
        "created_at": v.parse_datetime(record.get("created_at"), "created_at") or started,
        "updated_at": v.parse_datetime(record.get("updated_at"), "updated_at") or ended or started,
        # Same rule as the tools: a session with no summary and no key_events has nothing to embed.
        "needs_embedding": bool(session_text(summary, metadata)),
    }


def _event_row(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    _check_keys(record, _EVENT_KEYS, "event")
    return {
        "id": v.parse_uuid(record.get("id"), "id"),
        "session_id": v.parse_uuid(record.get("session_id"), "session_id"),
        "event_type": v.check_event_type(record.get("event_type"), settings),
        "event_data": v.check_json_object(record.get("event_data"), "event_data", settings, required=True),
        "metadata_": v.check_json_object(record.get("metadata"), "metadata", settings, required=False),
        "timestamp": _required_time(record, "timestamp"),
        "needs_embedding": True,
    }


def _parse_line(raw: bytes, settings: Settings) -> tuple[str, dict[str, Any]]:
    """("header" | "session" | "event", row). Raises InvalidInputError saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"not valid UTF-8 (bad byte at position {exc.start + 1})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, absurd nesting
        raise InvalidInputError(f"not valid JSON: {str(exc)[:120] or 'nested too deeply'}") from None
    if not isinstance(record, dict):
        raise InvalidInputError(
            f'must be a JSON object with "type": "session" or "event" (got {type(record).__name__})'
        )
    kind = record.get("type")
    if kind == "session":
        return kind, _session_row(record, settings)
    if kind == "event":
        return kind, _event_row(record, settings)
    if kind == EXPORT_FORMAT:
        return "header", record
    shown = repr(kind)[:50] if kind is not None else "missing"
    raise InvalidInputError(f'type must be "session" or "event" (got {shown})')


class _Importer:
    def __init__(self, database: Database, batch_size: int) -> None:
        self._db = database
        self._batch_size = batch_size
        self.report = ImportReport()
        self._known: set[uuid.UUID] = set()  # sessions valid in this file or found in the database
        self._sessions: list[dict[str, Any]] = []
        self._events: list[tuple[int, dict[str, Any]]] = []

    async def add(self, number: int, kind: str, row: dict[str, Any]) -> None:
        if kind == "session":
            self._sessions.append(row)
            self._known.add(row["id"])
        else:
            self._events.append((number, row))
        if len(self._sessions) + len(self._events) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        if not self._sessions and not self._events:
            return
        sessions, events = self._sessions, self._events
        self._sessions, self._events = [], []
        async with self._db.session() as db, db.begin():
            new = await repo.insert_sessions(db, sessions)
            self.report.sessions_imported += new
            self.report.sessions_skipped += len(sessions) - new
            unknown = {row["session_id"] for _, row in events} - self._known
            if unknown:
                self._known |= await repo.existing_session_ids(db, list(unknown))
            good = []
            for number, row in events:
                if row["session_id"] in self._known:
                    good.append(row)
                else:
                    self.report.reject(
                        number,
                        f"session {row['session_id']} is not in the database and not in this file before "
                        "this line (or its line was rejected); import the session first",
                    )
            new = await repo.insert_events(db, good)
            self.report.events_imported += new
            self.report.events_skipped += len(good) - new


async def import_jsonl(
    database: Database, settings: Settings, source: BinaryIO, *, batch_size: int = 500
) -> ImportReport:
    """Import an export, checking every line with the tools' rules. Good lines are imported (in
    transactions of `batch_size` rows) even when others are rejected; ids already stored are skipped,
    so importing the same file twice changes nothing. Imported rows are queued for embedding."""
    importer = _Importer(database, batch_size)
    limit = max_line_bytes(settings)
    for number, raw in _read_lines(source, limit):
        if raw is None:
            importer.report.reject(number, f"line is longer than {limit} bytes")
            continue
        if not raw.strip():
            continue
        try:
            kind, row = _parse_line(raw, settings)
        except InvalidInputError as exc:
            importer.report.reject(number, str(exc))
            continue
        if kind == "header":
            if row.get("version") != EXPORT_VERSION:
                await importer.flush()
                raise InvalidInputError(
                    f"line {number}: export format version {str(row.get('version'))[:20]} is not supported "
                    f"(this archon-mcp reads version {EXPORT_VERSION}); upgrade archon-mcp. Nothing after "
                    "this line was imported"
                )
            continue
        await importer.add(number, kind, row)
    await importer.flush()
    return importer.report


# --- purge ----------------------------------------------------------------------------------------
@dataclass
class PurgeResult:
    sessions: int
    events: int
    cutoff: datetime
    dry_run: bool

    def render(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {self.sessions} sessions and {self.events} events "
            f"(sessions that ended before {_time(self.cutoff)}; active sessions are never deleted)"
        )


def parse_age(value: str) -> timedelta:
    """`90d`, `12h`, `2w` -> a timedelta."""
    match = _AGE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInputError(
            f"--older-than {str(value)[:30]!r} is not an age: use a number and a unit, e.g. 90d, 12h or 2w"
        )
    age = int(match.group(1)) * _AGE_UNITS[match.group(2).lower()]
    if age <= timedelta(0):
        raise InvalidInputError("--older-than must be at least 1h")
    if age > _MAX_AGE:
        raise InvalidInputError("--older-than must be less than 100 years")
    return age


async def purge(
    database: Database,
    settings: Settings,
    *,
    older_than: str,
    agent: str | None = None,
    dry_run: bool = False,
    batch_size: int = 1000,
) -> PurgeResult:
    """Delete sessions that ended before now minus `older_than`, with their events, in transactions
    of `batch_size` sessions. `dry_run` only counts."""
    age = parse_age(older_than)
    agent_name = v.check_agent(agent, settings) if agent is not None else None
    async with database.session() as db:
        cutoff = await repo.database_now(db) - age
        if dry_run:
            sessions, events = await repo.count_purgeable(db, cutoff=cutoff, agent=agent_name)
            return PurgeResult(sessions, events, cutoff, dry_run=True)
    total_sessions = total_events = 0
    while True:
        async with database.session() as db, db.begin():
            sessions, events = await repo.purge_batch(db, cutoff=cutoff, agent=agent_name, limit=batch_size)
        total_sessions += sessions
        total_events += events
        if sessions < batch_size:
            return PurgeResult(total_sessions, total_events, cutoff, dry_run=False)
