"""Semantic search over sessions and events."""

from __future__ import annotations

from typing import Any

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import Embedder, calibrate
from archon_mcp.embeddings._calibration import raw_cosine_for
from archon_mcp.errors import EmbeddingError
from archon_mcp.repositories import embeddings as queue
from archon_mcp.repositories import search as search_repo
from archon_mcp.schemas import EventHit, EventSearchResults, SessionHit, SessionSearchResults
from archon_mcp.services import _validation as v
from archon_mcp.services._convert import event_fields, session_fields
from archon_mcp.services.embedding_worker import EmbeddingWorker


class SearchService:
    def __init__(
        self, database: Database, embedder: Embedder, worker: EmbeddingWorker | None, settings: Settings
    ) -> None:
        self._db = database
        self._embedder = embedder
        self._worker = worker
        self._settings = settings

    async def _embed_query(self, query: str) -> list[float]:
        try:
            return (await self._embedder.embed([query[: self._settings.embedding_max_chars]]))[0]
        except EmbeddingError as exc:
            raise EmbeddingError(f"could not embed the search query, semantic search is unavailable: {exc}") from exc
        except Exception as exc:
            raise EmbeddingError(f"could not embed the search query: {exc}") from exc

    async def _prepare(self, query: Any, limit: Any, threshold: Any) -> tuple[str, int, float, list[float], float]:
        text = v.check_text(query, "query", self._settings.max_query_chars)
        assert text is not None
        lim = v.check_int(limit, "limit", 1, self._settings.max_search_results)
        thr = v.check_threshold(threshold)
        # Embedding the query first also waits out a cold model load, so the wait below is only
        # for this server's own just-written rows (read-your-writes), bounded.
        vector = await self._embed_query(text)
        if self._worker is not None and self._settings.search_wait_for_pending > 0:
            await self._worker.wait_idle(self._settings.search_wait_for_pending)
        max_distance = 1.0 - raw_cosine_for(self._embedder.model, thr)
        return text, lim, thr, vector, max_distance

    async def search_sessions(
        self,
        query: Any,
        limit: Any = 10,
        threshold: Any = 0.7,
        agent: Any = None,
        project_id: Any = None,
        since: Any = None,
        until: Any = None,
        active_only: bool = False,
    ) -> SessionSearchResults:
        filters = {
            "agent": v.check_agent(agent, self._settings) if agent is not None else None,
            "project_id": v.parse_optional_uuid(project_id, "project_id"),
            "since": v.parse_datetime(since, "since"),
            "until": v.parse_datetime(until, "until"),
            "active_only": bool(active_only),
        }
        text, lim, thr, vector, max_distance = await self._prepare(query, limit, threshold)
        async with self._db.session() as db, db.begin():
            await search_repo.tune_hnsw(db, lim)
            rows = await search_repo.nearest_sessions(
                db, vector, model_name=self._embedder.model, max_distance=max_distance, limit=lim, **filters
            )
            pending = (await queue.pending_counts(db))["sessions"]
        hits = [
            SessionHit(**session_fields(row), similarity=round(calibrate(self._embedder.model, 1 - d), 4))
            for row, d in rows
        ]
        hits = [h for h in hits if h.similarity >= thr]
        hits.sort(key=lambda h: h.similarity, reverse=True)
        return SessionSearchResults(query=text, threshold=thr, results=hits, pending_embeddings=pending)

    async def search_events(
        self,
        query: Any,
        limit: Any = 10,
        threshold: Any = 0.7,
        session_id: Any = None,
        event_type: Any = None,
        agent: Any = None,
        project_id: Any = None,
        since: Any = None,
        until: Any = None,
    ) -> EventSearchResults:
        filters = {
            "session_id": v.parse_optional_uuid(session_id, "session_id"),
            "event_type": v.check_event_type(event_type, self._settings) if event_type is not None else None,
            "agent": v.check_agent(agent, self._settings) if agent is not None else None,
            "project_id": v.parse_optional_uuid(project_id, "project_id"),
            "since": v.parse_datetime(since, "since"),
            "until": v.parse_datetime(until, "until"),
        }
        text, lim, thr, vector, max_distance = await self._prepare(query, limit, threshold)
        async with self._db.session() as db, db.begin():
            await search_repo.tune_hnsw(db, lim)
            rows = await search_repo.nearest_events(
                db, vector, model_name=self._embedder.model, max_distance=max_distance, limit=lim, **filters
            )
            pending = (await queue.pending_counts(db))["events"]
        hits = [
            EventHit(**event_fields(row), agent=agent_name, similarity=round(calibrate(self._embedder.model, 1 - d), 4))
            for row, agent_name, d in rows
        ]
        hits = [h for h in hits if h.similarity >= thr]
        hits.sort(key=lambda h: h.similarity, reverse=True)
        return EventSearchResults(query=text, threshold=thr, results=hits, pending_embeddings=pending)
