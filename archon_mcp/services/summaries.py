"""Session summaries: the client's model (MCP sampling), an OpenAI-compatible chat model, or an extractive
digest of the events. A malformed or failed model answer falls through to the next method; nothing but a
validated summary is ever stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from archon_mcp.config import Settings, SummaryMethod
from archon_mcp.db import Database
from archon_mcp.errors import ArchonError, ConflictError, NotFoundError
from archon_mcp.repositories import events as events_repo
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.repositories import summaries as summaries_repo
from archon_mcp.schemas import SessionOut, iso_utc
from archon_mcp.services._chat import OpenAIChat
from archon_mcp.services._convert import session_out
from archon_mcp.services._digest import SummaryMaterial, chunk_lines, event_line, extractive_summary, map_reduce
from archon_mcp.services.sessions import SessionService
from archon_mcp.services.summary_format import (
    NO_SAMPLING,
    MethodAttempt,
    Sampling,
    SessionSummary,
    SummaryDraft,
)

log = logging.getLogger(__name__)


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
        lines = [event_line(e, 600) for e in events]
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
        sampling: Sampling = NO_SAMPLING,
    ) -> SessionSummary:
        """Try each method in order; `sampling` is what the client's own model offers this call."""
        order = self.order(methods)
        material = await self.material(session_id)
        attempts: list[MethodAttempt] = []
        draft: SummaryDraft | None = None
        used: SummaryMethod = "extractive"
        model: str | None = None
        for method in order:
            if method == "sampling":
                if sampling.answer is not None:
                    if sampling.answer.draft is None:
                        detail = sampling.answer.detail
                        attempts.append(MethodAttempt(method=method, outcome="failed", detail=detail))
                        continue
                    draft, model = sampling.answer.draft, sampling.answer.model
                elif sampling.sampler is not None:
                    try:
                        draft = await map_reduce(sampling.sampler, material)
                        model = getattr(sampling.sampler, "model", None)
                    except Exception as exc:  # a client's model may fail in any way; fall through
                        attempts.append(MethodAttempt(method=method, outcome="failed", detail=_short(exc)))
                        continue
                else:
                    attempts.append(MethodAttempt(method=method, outcome="skipped", detail=sampling.unavailable))
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
            await self.summarize(session_id=sid, methods=methods, sampling=Sampling(unavailable="background summary"))
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
