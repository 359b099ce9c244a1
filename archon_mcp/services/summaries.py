"""Session summaries: the client's model (MCP sampling), an OpenAI-compatible chat model, or an extractive
digest of the events. A malformed or failed model answer falls through to the next method; nothing but a
validated summary is ever stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from archon_mcp.config import Settings, SummaryMethod
from archon_mcp.db import Database
from archon_mcp.embeddings import event_text
from archon_mcp.errors import ArchonError, ConflictError, NotFoundError
from archon_mcp.models import AgentSession
from archon_mcp.repositories import events as events_repo
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.repositories import summaries as summaries_repo
from archon_mcp.schemas import SessionOut, iso_utc
from archon_mcp.schemas import clean_item as _clean_item
from archon_mcp.services._convert import session_out
from archon_mcp.services.sessions import SessionService
from archon_mcp.services.summary_format import (
    MAX_ITEMS,
    SUMMARY_JSON_SCHEMA,
    SYSTEM_PROMPT,
    MethodAttempt,
    SampledAnswer,
    SessionSummary,
    SummaryDraft,
    SummaryFormatError,
    parse_draft,
)

log = logging.getLogger(__name__)

# (system prompt, user prompt) -> the model's answer text.
ChatModel = Callable[[str, str], Awaitable[str]]


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


def _some(items: Sequence[str], limit: int = 3) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def extractive_summary(session: AgentSession, events: Sequence[EventRecord], total: int) -> SummaryDraft:
    """A deterministic digest of the events: always available, offline."""
    facts = analyze_events(events)
    decisions = [text for text, _ in facts.decisions]
    outcomes = [text for text, _ in facts.completed]
    errors = [text for text, _ in facts.errors]
    next_steps = [task.title for task in facts.open_tasks]
    next_steps += [f"Resolve error: {text}" for text, _ in facts.unresolved_errors]
    sentences = [f"{session.agent} session with {total} event{'s' if total != 1 else ''}."]
    if outcomes:
        sentences.append(f"Completed {len(outcomes)} task{'s' if len(outcomes) != 1 else ''}: {_some(outcomes)}.")
    if decisions:
        sentences.append(f"Decided: {_some(decisions)}.")
    if errors:
        sentences.append(f"Errors: {_some(errors)}.")
    if facts.open_tasks:
        sentences.append(f"Still open: {_some([t.title for t in facts.open_tasks])}.")
    if not (outcomes or decisions or errors or facts.open_tasks):
        kinds = sorted({e.event_type.replace("_", " ") for e in events})
        sentences.append(f"Logged: {_some(kinds, 6)}.")
    key_events = facts.key_events
    if len(key_events) > MAX_ITEMS:  # keep the start and the end of a long session
        key_events = key_events[: MAX_ITEMS // 2] + key_events[-(MAX_ITEMS - MAX_ITEMS // 2) :]
    return SummaryDraft(
        summary=" ".join(sentences),
        key_events=key_events,
        decisions=decisions[-MAX_ITEMS:],
        outcomes=outcomes[-MAX_ITEMS:],
        next_steps=next_steps[:MAX_ITEMS],
    )


# --- prompts ------------------------------------------------------------------------------------------
@dataclass
class SummaryMaterial:
    """A session's events rendered for a model, cut into at most `max_chunks` chunks."""

    session: AgentSession
    events: Sequence[EventRecord]
    total: int
    chunks: list[str]
    omitted: int  # events not read, or in chunks that were dropped

    @property
    def header(self) -> str:
        ended = self.session.ended_at.isoformat() if self.session.ended_at else "still active"
        head = f"Session {self.session.id} by agent {self.session.agent}, started {self.session.started_at.isoformat()}"
        note = f", {self.omitted} events from the middle left out" if self.omitted else ""
        return f"{head}, ended {ended}; {self.total} events{note}."

    def single_prompt(self) -> str:
        return f"{self.header}\nEvents, oldest first:\n{self.chunks[0]}\n\nSummarise this session as JSON."

    def map_prompt(self, index: int) -> str:
        return (
            f"{self.header}\nThis is part {index + 1} of {len(self.chunks)} of its events, oldest first:\n"
            f"{self.chunks[index]}\n\nSummarise this part as JSON."
        )

    def reduce_prompt(self, partials: Sequence[SummaryDraft]) -> str:
        parts = "\n".join(
            f"Part {i + 1}: {json.dumps(p.model_dump(), ensure_ascii=False)}" for i, p in enumerate(partials)
        )
        return (
            f"{self.header}\nSummaries of its {len(partials)} parts, in order:\n{parts}\n\n"
            "Merge them into one summary of the whole session as JSON. A task opened in one part and "
            "finished in a later part is an outcome, not a next step."
        )


def _event_line(event: EventRecord, max_chars: int) -> str:
    when = event.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"- {when} {event_text(event.event_type, event.event_data, max_chars)}"


def chunk_lines(lines: Sequence[str], chunk_chars: int, max_chunks: int) -> tuple[list[list[int]], int]:
    """Line indexes grouped into chunks of about `chunk_chars`; when there are more than `max_chunks`,
    keep evenly spaced ones (always the first and the last). Returns (chunks, lines dropped)."""
    chunks: list[list[int]] = [[]]
    size = 0
    for i, line in enumerate(lines):
        if chunks[-1] and size + len(line) + 1 > chunk_chars:
            chunks.append([])
            size = 0
        chunks[-1].append(i)
        size += len(line) + 1
    if len(chunks) <= max_chunks:
        return chunks, 0
    if max_chunks == 1:
        keep = [0]
    else:
        step = (len(chunks) - 1) / (max_chunks - 1)
        keep = sorted({round(k * step) for k in range(max_chunks)})
    kept = [chunks[k] for k in keep]
    return kept, len(lines) - sum(len(c) for c in kept)


# --- chat model over the OpenAI API ---------------------------------------------------------------------
class OpenAIChat:
    """An OpenAI-compatible chat endpoint asked for JSON-schema structured output."""

    def __init__(self, settings: Settings, *, http_client: Any = None) -> None:
        import openai

        key = settings.summarizer_api_key or settings.openai_api_key
        base_url = settings.summarizer_base_url or settings.openai_base_url
        assert settings.summarizer_model is not None
        self.model = settings.summarizer_model
        self._max_tokens = settings.summarizer_max_tokens
        self._client = openai.AsyncOpenAI(
            api_key=key.get_secret_value() if key else ("unused" if base_url else None),
            base_url=base_url,
            timeout=settings.summarizer_timeout,
            max_retries=0,  # a failure falls through to the next method instead
            http_client=http_client,
        )

    async def __call__(self, system: str, user: str) -> str:
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "session_summary", "strict": True, "schema": SUMMARY_JSON_SCHEMA},
            },
            max_tokens=self._max_tokens,
            temperature=0,
        )
        if not response.choices:
            raise SummaryFormatError("the chat model returned no choices")
        return response.choices[0].message.content or ""

    async def aclose(self) -> None:
        await self._client.close()


async def map_reduce(chat: ChatModel, material: SummaryMaterial) -> SummaryDraft:
    """One call when the events fit, else one per chunk plus one to merge: at most max_chunks + 1."""
    if len(material.chunks) == 1:
        return parse_draft(await chat(SYSTEM_PROMPT, material.single_prompt()))
    partials = []
    for index in range(len(material.chunks)):
        try:
            partials.append(parse_draft(await chat(SYSTEM_PROMPT, material.map_prompt(index))))
        except SummaryFormatError as exc:
            raise SummaryFormatError(f"part {index + 1} of {len(material.chunks)}: {exc}") from exc
    return parse_draft(await chat(SYSTEM_PROMPT, material.reduce_prompt(partials)))


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


# --- the service --------------------------------------------------------------------------------------
class SummaryService:
    """Summarise sessions and store the result the way update_session_summary does."""

    def __init__(
        self, database: Database, sessions: SessionService, settings: Settings, *, http_client: Any = None
    ) -> None:
        self._db = database
        self._sessions = sessions
        self._settings = settings
        self._chat: OpenAIChat | None = (
            OpenAIChat(settings, http_client=http_client) if settings.summarizer_model else None
        )
        self._background: set[asyncio.Task[None]] = set()

    # --- inputs -------------------------------------------------------------------------------------
    def order(self, methods: Sequence[SummaryMethod] | None = None) -> list[SummaryMethod]:
        """The methods to try: the configured order (or `methods`), extractive always last."""
        chosen = list(self._settings.summarizer_order if methods is None else methods)
        ordered = list(dict.fromkeys(chosen))
        if "extractive" not in ordered:
            ordered.append("extractive")
        return ordered

    async def material(self, session_id: uuid.UUID) -> SummaryMaterial:
        """The session and a bounded read of its events (the first and the last ones), chunked."""
        sid = session_id
        cap = self._settings.summarizer_max_events
        async with self._db.session() as db:
            row = await sessions_repo.get(db, sid)
            if row is None:
                raise NotFoundError(f"no session with id {sid}", hint="find_session")
            total = await events_repo.count_for_session(db, sid)
            if total <= cap:
                events = await events_repo.window(db, sid, limit=cap, offset=0)
            else:
                head = await events_repo.window(db, sid, limit=cap // 2, offset=0)
                tail = await events_repo.window(db, sid, limit=cap - cap // 2, offset=total - (cap - cap // 2))
                events = head + tail
        if not events:
            raise ConflictError(f"session {sid} has no events to summarise", hint="no_events")
        lines = [_event_line(e, 600) for e in events]
        groups, dropped = chunk_lines(
            lines, self._settings.summarizer_chunk_chars, self._settings.summarizer_max_chunks
        )
        chunks = ["\n".join(lines[i] for i in group) for group in groups]
        return SummaryMaterial(row, events, total, chunks, omitted=(total - len(events)) + dropped)

    # --- summarise ----------------------------------------------------------------------------------
    async def summarize(
        self,
        *,
        session_id: uuid.UUID,
        methods: Sequence[SummaryMethod] | None = None,
        store: bool = True,
        sampler: ChatModel | None = None,
        sampled: SampledAnswer | None = None,
        sampler_model: str | None = None,
        sampling_unavailable: str = "no MCP client request to sample from",
    ) -> SessionSummary:
        """Try each method in order. `sampler` asks the client's model directly (handshake-era clients);
        `sampled` is an answer the client already gave (2026-07-28 clients)."""
        order = self.order(methods)
        material = await self.material(session_id)
        attempts: list[MethodAttempt] = []
        draft: SummaryDraft | None = None
        used: SummaryMethod = "extractive"
        model: str | None = None
        for method in order:
            if method == "sampling":
                if sampled is not None:
                    if sampled.draft is None:
                        attempts.append(MethodAttempt(method=method, outcome="failed", detail=sampled.detail))
                        continue
                    draft, model = sampled.draft, sampled.model
                elif sampler is not None:
                    try:
                        draft = await map_reduce(sampler, material)
                        model = getattr(sampler, "model", None) or sampler_model
                    except Exception as exc:  # a client's model may fail in any way; fall through
                        attempts.append(MethodAttempt(method=method, outcome="failed", detail=_short(exc)))
                        continue
                else:
                    attempts.append(MethodAttempt(method=method, outcome="skipped", detail=sampling_unavailable))
                    continue
            elif method == "openai":
                if self._chat is None:
                    detail = "no chat model configured (set ARCHON_SUMMARIZER_MODEL)"
                    attempts.append(MethodAttempt(method=method, outcome="skipped", detail=detail))
                    continue
                try:
                    draft, model = await map_reduce(self._chat, material), self._chat.model
                except Exception as exc:  # network, API and format errors alike fall through
                    log.info("chat summary of %s failed: %s", material.session.id, exc)
                    attempts.append(MethodAttempt(method=method, outcome="failed", detail=_short(exc)))
                    continue
            else:
                draft, model = extractive_summary(material.session, material.events, material.total), None
            used = method
            attempts.append(MethodAttempt(method=method, outcome="used", detail=model or "from the events"))
            break
        assert draft is not None  # extractive is always last and cannot fail
        session = await self._store(material.session.id, draft, used, model) if store else None
        return SessionSummary(
            session_id=str(material.session.id),
            **draft.model_dump(),
            method=used,
            model=model,
            events_total=material.total,
            events_read=len(material.events),
            chunks=len(material.chunks),
            attempts=attempts,
            stored=session is not None,
            session=session,
        )

    async def _store(self, sid: uuid.UUID, draft: SummaryDraft, method: str, model: str | None) -> SessionOut:
        metadata = {
            "key_events": draft.key_events,
            "decisions": draft.decisions,
            "outcomes": draft.outcomes,
            "next_steps": draft.next_steps,
            "summary_method": method,
            "summary_model": model,
            "summary_status": "done",
            "summarized_at": iso_utc(datetime.now(UTC)),
        }
        return await self._sessions.update_session_summary(session_id=sid, summary=draft.summary, metadata=metadata)

    # --- summarise on end, in the background --------------------------------------------------------
    async def summarize_ended(self, ended: SessionOut) -> SessionOut:
        """SessionService's `on_ended` hook: a session ended without a summary gets one in the background."""
        if ended.summary:
            return ended
        return await self.schedule(ended)

    async def schedule(self, ended: SessionOut) -> SessionOut:
        """Mark the session `summary_status: pending` and summarise it after this call returns."""
        sid = uuid.UUID(ended.id)
        async with self._db.session() as db, db.begin():
            if await events_repo.count_for_session(db, sid) == 0:
                return ended
            row = await summaries_repo.merge_metadata(db, sid, {"summary_status": "pending"})
        if row is None:
            return ended
        task = asyncio.create_task(self._summarize_later(sid), name=f"archon-summary-{sid}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return session_out(row)

    async def _summarize_later(self, sid: uuid.UUID) -> None:
        try:
            async with self._db.session() as db:
                row = await sessions_repo.get(db, sid)
            if row is None or (row.metadata_ or {}).get("summary_status") != "pending":
                return  # deleted, or someone wrote a summary meanwhile
            # No client request to sample from in the background: the configured order without sampling.
            methods = [m for m in self.order() if m != "sampling"]
            await self.summarize(session_id=sid, methods=methods, sampling_unavailable="background summary")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("background summary of session %s failed: %s", sid, exc)
            detail = str(exc) if isinstance(exc, ArchonError) else f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                async with self._db.session() as db, db.begin():
                    await summaries_repo.merge_metadata(
                        db, sid, {"summary_status": "failed", "summary_error": detail[:500]}
                    )

    async def wait_background(self) -> None:
        """Wait for every background summary started so far (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self, timeout: float = 10.0) -> None:
        if self._background:
            _, late = await asyncio.wait(list(self._background), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._chat is not None:
            await self._chat.aclose()
