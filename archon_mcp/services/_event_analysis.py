"""What a session's events say: tasks opened and closed, decisions, errors and whether they were
resolved. Pure logic over event rows, used by the summaries and the resume context."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from archon_mcp.schemas import clean_item as _clean_item


# --- reading events and analysing them ----------------------------------------------------------------
class EventRecord(Protocol):
    """What reading an event needs: an ORM SessionEvent or a Core row of repositories/events.RETURNED."""

    @property
    def session_id(self) -> uuid.UUID: ...
    @property
    def event_type(self) -> str: ...
    @property
    def event_data(self) -> dict[str, Any]: ...
    @property
    def timestamp(self) -> datetime: ...


def _text_of(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def _joined(first: str, second: str | None) -> str:
    return _clean_item(f"{first} — {second}" if second else first)


@dataclass
class TaskRecord:
    title: str
    task_id: str | None
    session_id: str
    at: datetime


@dataclass
class EventAnalysis:
    """The facts an extractive summary and the resume context are made of, oldest first."""

    decisions: list[tuple[str, EventRecord]] = field(default_factory=list)
    completed: list[tuple[str, EventRecord]] = field(default_factory=list)
    errors: list[tuple[str, EventRecord]] = field(default_factory=list)
    unresolved_errors: list[tuple[str, EventRecord]] = field(default_factory=list)
    open_tasks: list[TaskRecord] = field(default_factory=list)
    key_events: list[str] = field(default_factory=list)


_DONE_STATUSES = {"done", "completed", "complete", "closed", "resolved", "cancelled", "canceled"}


def analyze_events(events: Iterable[EventRecord]) -> EventAnalysis:
    """Decisions, finished tasks, errors and still-open tasks, from events in time order.

    A task is open when it was created (`task_created`) and no later `task_completed` (or a
    `task_updated` to a done status) names the same `task_id` or the same title. An error is
    unresolved unless it says `resolved`, or a later `error_resolved` names the same error, or the
    task it belongs to (`task_id`) was completed afterwards."""
    out = EventAnalysis()
    open_by_key: dict[str, TaskRecord] = {}
    titles_by_id: dict[str, str] = {}
    pending_errors: list[tuple[str, EventRecord]] = []

    def close(task_id: str | None, title: str | None) -> None:
        for key in (f"id:{task_id}" if task_id else None, f"title:{title.lower()}" if title else None):
            record = open_by_key.pop(key, None) if key else None
            if record is not None:
                open_by_key.pop(f"id:{record.task_id}", None)
                open_by_key.pop(f"title:{record.title.lower()}", None)

    title: str | None
    error: str | None
    for event in events:
        data = event.event_data if isinstance(event.event_data, dict) else {}
        kind = event.event_type
        task_id = _text_of(data, "task_id", "id")
        if kind == "task_created":
            title = _text_of(data, "title", "task", "name", "description") or f"task {task_id or '?'}"
            if task_id:
                titles_by_id[task_id] = title
            record = TaskRecord(
                title=_clean_item(title), task_id=task_id, session_id=str(event.session_id), at=event.timestamp
            )
            if task_id:
                open_by_key[f"id:{task_id}"] = record
            open_by_key[f"title:{record.title.lower()}"] = record
            out.key_events.append(_clean_item(f"task created: {title}"))
        elif kind == "task_completed" or (
            kind == "task_updated" and str(data.get("status", "")).lower() in _DONE_STATUSES
        ):
            title = _text_of(data, "title", "task", "name") or (titles_by_id.get(task_id) if task_id else None)
            close(task_id, title)
            if kind == "task_completed":
                label = title or f"task {task_id or '?'}"
                outcome = _text_of(data, "outcome", "result", "summary", "status")
                out.completed.append((_clean_item(f"{label} ({outcome})" if outcome else label), event))
                out.key_events.append(_clean_item(f"task completed: {label}"))
                if task_id:
                    pending_errors = [(t, e) for t, e in pending_errors if _text_of(e.event_data, "task_id") != task_id]
        elif kind == "decision_made":
            decision = _text_of(data, "decision", "title", "summary", "description", "choice")
            if decision:
                out.decisions.append((_joined(decision, _text_of(data, "rationale", "reason", "why")), event))
                out.key_events.append(_clean_item(f"decision: {decision}"))
        elif kind == "error_encountered":
            error = _text_of(data, "error", "message", "description", "title") or "unspecified error"
            item = _joined(error, _text_of(data, "context", "where", "file"))
            out.errors.append((item, event))
            out.key_events.append(_clean_item(f"error: {error}"))
            if not data.get("resolved") and not data.get("resolution"):
                pending_errors.append((item, event))
        elif kind == "error_resolved":
            error = _text_of(data, "error", "message", "title")
            if error:
                key = error.lower()
                pending_errors = [(t, e) for t, e in pending_errors if not t.lower().startswith(key)]
        elif kind == "pattern_identified":
            pattern = _text_of(data, "pattern", "title", "description")
            if pattern:
                out.key_events.append(_clean_item(f"pattern: {pattern}"))
    seen: set[int] = set()
    for record in open_by_key.values():
        if id(record) not in seen:
            seen.add(id(record))
            out.open_tasks.append(record)
    out.open_tasks.sort(key=lambda r: r.at)
    out.unresolved_errors = pending_errors
    return out
