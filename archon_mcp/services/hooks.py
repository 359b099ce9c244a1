"""What a client hook record does to the store (records come from `archon_mcp.hooks._payload`).

One archon session per client session id (kept in the session's metadata as `hook_client` +
`hook_session_id`): found or created under an advisory lock, so two hooks that race get the same
one; reopened when a client resumes a session that was ended. Events carry a `hook_key` (the
client's tool-use id) so a retried hook stores nothing twice. Nothing here embeds: rows stay
`pending` until a running server (or `archon-mcp reembed`) embeds them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from archon_mcp.config import MAX_RESUME_TOKENS, Settings
from archon_mcp.db import Database
from archon_mcp.errors import ArchonError, ConflictError, InvalidInputError
from archon_mcp.redact import redact_value
from archon_mcp.repositories import events as events_repo
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.repositories import summaries as summaries_repo
from archon_mcp.schemas import AddEventsRequest
from archon_mcp.services._convert import session_out
from archon_mcp.services.projects import ProjectService
from archon_mcp.services.resume import ResumeService
from archon_mcp.services.resume_format import fit_rendered, render_markdown
from archon_mcp.services.sessions import SessionService
from archon_mcp.services.stale import end_stale_sessions
from archon_mcp.services.summaries import SummaryService

log = logging.getLogger(__name__)

ACTIONS = ("start", "events", "checkpoint", "turn", "end")
_DONE = {"completed", "done", "complete", "cancelled", "canceled"}


def _now() -> datetime:
    return datetime.now(UTC)


def hook_context_output(markdown: str) -> str:
    """The SessionStart answer both clients document: the Markdown as `additionalContext`."""
    return json.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": markdown}},
        ensure_ascii=False,
    )


class HookRecorder:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        sessions: SessionService,
        summaries: SummaryService,
        resume: ResumeService,
        projects: ProjectService,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._db = database
        self._settings = settings
        self._sessions = sessions
        self._summaries = summaries
        self._resume = resume
        self._projects = projects
        self._clock = clock
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._todos: dict[str, dict[str, str]] = {}  # archon session id -> {task_id: status}
        self._background: set[asyncio.Task[None]] = set()

    # --- entry point ---------------------------------------------------------------------------------
    async def handle(self, record: Any) -> str:
        """Apply one record; the text the hook prints ("" for every action but start)."""
        record = self._checked(record)
        key = (record["client"], record["session"])
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            action = record["action"]
            if action == "start":
                return await self._start(record)
            # Only new events (or a SessionStart) reopen an ended session: a late Stop or PreCompact does not.
            sid = await self._session_for(record, reopen=action == "events", create=action != "end")
            if sid is None:
                return ""  # a SessionEnd for a session we never saw: nothing to end
            if action == "events":
                await self._events(sid, record)
            elif action in ("checkpoint", "turn"):
                self._later(self._checkpoint(sid, only_if_new=action == "turn", trigger=record.get("trigger")))
            elif action == "end":
                await self._end(sid, record)
            return ""

    def _checked(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise InvalidInputError("a hook record must be a JSON object")
        for field in ("client", "agent", "session", "action"):
            if not isinstance(record.get(field), str) or not record[field].strip():
                raise InvalidInputError(f"the hook record has no {field}")
        if record["action"] not in ACTIONS:
            raise InvalidInputError(f"unknown hook action {record['action']!r}; one of {', '.join(ACTIONS)}")
        if self._settings.redact != "off":  # the hook process redacted already; idempotent, and cheap
            record = {**record, "events": redact_value(record.get("events") or [])}
        return record

    # --- sessions ------------------------------------------------------------------------------------
    async def _session_for(
        self, record: dict[str, Any], *, reopen: bool = True, source: str | None = None, create: bool = True
    ) -> uuid.UUID | None:
        client, session = record["client"], record["session"]
        async with self._db.session() as db, db.begin():
            await sessions_repo.lock_hook_session(db, client, session)
            row = await sessions_repo.find_hook_session(db, client, session)
            if row is not None:
                if row.ended_at is not None and reopen:
                    patch = {"reopened_at": self._clock().isoformat().replace("+00:00", "Z")}
                    if source:
                        patch["hook_source"] = source
                    await sessions_repo.reopen(db, row.id, patch)
                return row.id
            if not create:
                return None
            project_id = None
            if record.get("project"):
                try:
                    project_id = await self._projects.resolve(project=record["project"])
                except InvalidInputError as exc:  # a folder name no project can have: record without one
                    log.info("hook session without a project: %s", exc)
            metadata = {
                "hook_client": client,
                "hook_session_id": session,
                "recorded_by": "hook",
                "cwd": (record.get("cwd") or "")[:1000] or None,
                "project": record.get("project"),
                "hook_source": source or record.get("source"),
            }
            metadata = {k: v for k, v in metadata.items() if v is not None}
            agent = record["agent"] if record["agent"] in self._settings.agents else self._settings.agents[0]
            row = await sessions_repo.insert(
                db, agent=agent, project_id=project_id, metadata=metadata, needs_embedding=False
            )
            return row.id

    async def _start(self, record: dict[str, Any]) -> str:
        """Sweep stale sessions, build the resume context of the project (before this session exists,
        so it is about the earlier ones), then create or reuse this client session's archon session."""
        await end_stale_sessions(self._db, self._settings, self._summaries, clock=self._clock)
        output = ""
        try:
            output = await self.context_text(record["agent"], record.get("project"))
        except ArchonError as exc:
            log.warning("no resume context for the SessionStart hook: %s", exc)
        await self._session_for(record, reopen=True, source=record.get("source"))
        return output

    async def context_text(self, agent: str, project: str | None) -> str:
        """The printed SessionStart answer, within ARCHON_HOOK_CONTEXT_TOKENS measured on that very text."""
        project_id = await self._projects.resolve(project=project) if project else None
        context = await self._resume.resume_context(agent=agent, project_id=project_id, max_tokens=MAX_RESUME_TOKENS)
        closing = (
            "This session is recorded automatically by archon-mcp hooks (prompts, edited files, commands, "
            "errors, todos); you do not need to call archon_create_session or archon_end_session."
        )

        def render(ctx) -> str:
            return hook_context_output(render_markdown(ctx, project_name=project, closing=closing))

        text, _ = fit_rendered(context, self._settings.hook_context_tokens, render)
        return text

    # --- events --------------------------------------------------------------------------------------
    async def _events(self, sid: uuid.UUID, record: dict[str, Any]) -> None:
        events = list(record.get("events") or [])
        events += await self._todo_events(sid, record.get("todos"))
        resolved = record.get("resolve_command")
        if isinstance(resolved, str) and resolved:
            async with self._db.connect() as conn:
                error = await events_repo.unresolved_command_error(conn, sid, resolved)
            if error:
                events.append(
                    {
                        "event_type": "error_resolved",
                        "event_data": {"error": error, "command": resolved, "resolution": "the command passed"},
                    }
                )
        rows = []
        record_id = record.get("id") if isinstance(record.get("id"), str) else None
        async with self._db.connect() as conn:
            for index, event in enumerate(events):
                key = event.get("key") or (f"rec:{record_id[:40]}:{index}" if record_id else None)
                if key and await events_repo.has_hook_key(conn, sid, key):
                    continue  # a retried hook call
                metadata = {"hook_key": key} if key else {}
                if record.get("at"):
                    metadata["hook_at"] = record["at"]
                rows.append(
                    {"event_type": event["event_type"], "event_data": event["event_data"], "metadata": metadata}
                )
        if rows:
            # Checked like any caller's batch (event types, sizes, nesting), before anything is stored.
            batch = AddEventsRequest.parse(self._settings, session_id=sid, events=rows)
            try:
                await self._sessions.add_events(session_id=batch.session_id, events=batch.events)
            except ConflictError:  # ended meanwhile (a SessionEnd racing a late PostToolUse): reopen, retry
                await self._session_for(record, reopen=True)
                await self._sessions.add_events(session_id=batch.session_id, events=batch.events)

    async def _todo_events(self, sid: uuid.UUID, todos: Any) -> list[dict[str, Any]]:
        """A todo list snapshot -> the task events of what changed (against the client's old list
        when it sends one, else the last list this process saw for the session)."""
        if not isinstance(todos, dict) or not isinstance(todos.get("new"), list):
            return []
        old_list = todos.get("old")
        if isinstance(old_list, list):
            before = {t["task_id"]: t["status"] for t in old_list if isinstance(t, dict) and "task_id" in t}
        else:
            before = dict(self._todos.get(str(sid), {}))
        out = []
        now: dict[str, str] = {}
        for todo in todos["new"]:
            if not isinstance(todo, dict) or "task_id" not in todo:
                continue
            task_id, title, status = todo["task_id"], todo.get("title", ""), todo.get("status", "pending")
            now[task_id] = status
            previous = before.get(task_id)
            data = {"task_id": task_id, "title": title, "status": status}
            if previous is None:
                out.append({"event_type": "task_created", "event_data": data, "key": f"todo:{task_id}:created"})
                if status in _DONE:
                    out.append({"event_type": "task_completed", "event_data": data, "key": f"todo:{task_id}:done"})
            elif previous != status:
                kind = "task_completed" if status in _DONE else "task_updated"
                out.append({"event_type": kind, "event_data": data, "key": f"todo:{task_id}:{status}"})
        self._todos[str(sid)] = now
        return out

    # --- checkpoints and the end ---------------------------------------------------------------------
    def _later(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def wait_background(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self._summaries.wait_background()

    @property
    def busy(self) -> bool:
        return bool(self._background) or bool(getattr(self._summaries, "_background", None))

    async def _checkpoint(self, sid: uuid.UUID, *, only_if_new: bool, trigger: Any = None) -> None:
        """The extractive summary of the session so far, stored without ending it (PreCompact); on a
        turn's end only when events came after the last checkpoint."""
        try:
            async with self._db.session() as db:
                row = await sessions_repo.get(db, sid)
                count = await events_repo.count_for_session(db, sid)
            if row is None or row.ended_at is not None or count == 0:
                return  # ended: its final summary is the end's
            meta = row.metadata_ or {}
            if only_if_new and meta.get("checkpoint_events") == count:
                return
            summary = await self._summaries.summarize(session_id=sid, methods=["extractive"], store=True)
            patch = {"checkpoint_events": summary.events_total, "summary_status": "checkpoint"}
            if trigger:
                patch["checkpoint_trigger"] = str(trigger)[:30]
            async with self._db.session() as db, db.begin():
                await summaries_repo.merge_metadata(db, sid, patch)
        except Exception as exc:
            log.warning("checkpoint summary of session %s failed: %s", sid, exc)

    async def _end(self, sid: uuid.UUID, record: dict[str, Any]) -> None:
        """End once (a second SessionEnd finds it ended and does nothing); summarize in the background."""
        async with self._db.connect() as conn:
            row = await sessions_repo.end_if_active(conn, sid)
        if row is None:
            return
        reason = record.get("reason")
        if reason:
            async with self._db.session() as db, db.begin():
                await summaries_repo.merge_metadata(db, sid, {"ended_by": "hook", "end_reason": str(reason)[:60]})
        else:
            async with self._db.session() as db, db.begin():
                await summaries_repo.merge_metadata(db, sid, {"ended_by": "hook"})
        self._todos.pop(str(sid), None)
        await self._summaries.schedule(session_out(row))
