"""Hybrid search over sessions and events: vector (pgvector) and keyword (full text), fused.

- `semantic`: nearest vectors; a result needs `similarity >= threshold`.
- `keyword`: full-text matches on any query term, rows matching every term first; `threshold`
  is not applied (a keyword hit is a hit).
- `hybrid` (default): both candidate lists fused (see ALL_TERMS_BONUS below). A result needs
  `similarity >= threshold` or a match on every query term, so exact identifiers are found
  even when the embedding misses them, and weak partial word overlaps are not padding.

Sessions are also found through their events (the best-matching events vote for their session),
so a session without a summary is still searchable. `similarity` is always the calibrated
cosine similarity (0 when the row has no vector yet); `score` (0..1) orders the results.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import Embedder, calibrate
from archon_mcp.errors import EmbeddingError, InvalidInputError
from archon_mcp.repositories import embeddings as queue
from archon_mcp.repositories import search as repo
from archon_mcp.repositories.search import Candidate, SearchFilters
from archon_mcp.schemas import EventHit, EventSearchResults, SessionHit, SessionSearchResults
from archon_mcp.services import _validation as v
from archon_mcp.services._convert import event_fields, session_fields
from archon_mcp.services.embedding_worker import EmbeddingWorker

log = logging.getLogger(__name__)

T = TypeVar("T")
SearchMode = Literal["hybrid", "semantic", "keyword"]
MODES: tuple[str, ...] = ("hybrid", "semantic", "keyword")
# Hybrid ordering: score = similarity + ALL_TERMS_BONUS if the row contains every query term
# + POSITION_BONUS / (1 + its position among keyword matches). Chosen on bench/eval (docs/SEARCH.md):
# a plain weighted sum lets a strong embedding match lead while exact-term matches move up.
ALL_TERMS_BONUS = 0.2
POSITION_BONUS = 0.2
_HYBRID_MAX = 1.0 + ALL_TERMS_BONUS + POSITION_BONUS
QUERY_CACHE_SIZE = 256


@dataclass
class _Fused:
    row: Any
    agent: str
    cosine: float | None = None
    all_terms: bool = False
    keyword_position: int | None = None  # best rank among keyword matches, 0 = first
    matched_by: list[str] = field(default_factory=list)
    score: float = 0.0

    def absorb(self, candidate: Candidate, rank: int, source: str) -> None:
        if candidate.cosine is not None:
            self.cosine = candidate.cosine if self.cosine is None else max(self.cosine, candidate.cosine)
        self.all_terms = self.all_terms or candidate.all_terms
        if source == "keyword" and (self.keyword_position is None or rank < self.keyword_position):
            self.keyword_position = rank
        if source not in self.matched_by:
            self.matched_by.append(source)


def _fuse(lists: Iterable[tuple[str, list[Candidate]]], key: Callable[[Candidate], Any]) -> dict[Any, _Fused]:
    fused: dict[Any, _Fused] = {}
    for source, candidates in lists:
        for rank, candidate in enumerate(candidates):
            entry = fused.setdefault(key(candidate), _Fused(row=candidate.row, agent=candidate.agent))
            entry.absorb(candidate, rank, source)
    return fused


class SearchService:
    def __init__(
        self, database: Database, embedder: Embedder, worker: EmbeddingWorker | None, settings: Settings
    ) -> None:
        self._db = database
        self._embedder = embedder
        self._worker = worker
        self._settings = settings
        self._query_cache: dict[str, list[float]] = {}

    # --- shared steps --------------------------------------------------------------------------
    def _check(self, query: Any, limit: Any, threshold: Any, mode: Any) -> tuple[str, int, float, str]:
        text = v.check_text(query, "query", self._settings.max_query_chars)
        assert text is not None
        if mode not in MODES:
            raise InvalidInputError(f"mode {str(mode)[:30]!r} is not one of: hybrid (default), semantic, keyword")
        lim = v.check_int(limit, "limit", 1, self._settings.max_search_results)
        return text.strip(), lim, v.check_threshold(threshold), mode

    async def _query_vector(self, text: str, mode: str) -> tuple[list[float] | None, str | None]:
        """The query's vector, or (in hybrid mode) None and a notice when the provider is down."""
        if mode == "keyword":
            return None, None
        try:
            vector = await self._cached_vector(text[: self._settings.embedding_max_chars])
        except Exception as exc:
            if mode == "semantic":
                raise EmbeddingError(
                    f"could not embed the search query, so semantic search is unavailable: {exc}. "
                    "Retry later or use mode='keyword'"
                ) from exc
            log.warning("query embedding failed, keyword results only: %s", exc)
            return None, f"semantic search unavailable ({exc}); these are keyword matches only"
        # Read-your-writes: rows this server just stored are embedded before we look.
        if self._worker is not None and self._settings.search_wait_for_pending > 0:
            await self._worker.wait_idle(self._settings.search_wait_for_pending)
        return vector, None

    async def _cached_vector(self, text: str) -> list[float]:
        """Agents repeat queries: keep the last few hundred query vectors (20-100 ms each to make)."""
        vector = self._query_cache.pop(text, None)
        if vector is None:
            vector = (await self._embedder.embed([text]))[0]
        self._query_cache[text] = vector  # most recent last
        while len(self._query_cache) > QUERY_CACHE_SIZE:
            self._query_cache.pop(next(iter(self._query_cache)))
        return vector

    def _pool(self, limit: int) -> int:
        return max(limit * 4, 40)

    def _similarity(self, cosine: float | None) -> float:
        return 0.0 if cosine is None else round(calibrate(self._embedder.model, cosine), 4)

    def _keep(self, entry: _Fused, mode: str, threshold: float) -> bool:
        if mode == "keyword":
            return True
        if self._similarity(entry.cosine) >= threshold:
            return True
        return mode == "hybrid" and entry.all_terms

    def _score(self, entry: _Fused, mode: str) -> float:
        similarity = self._similarity(entry.cosine)
        position = 0.0 if entry.keyword_position is None else 1.0 / (1 + entry.keyword_position)
        if mode == "semantic":
            return similarity
        if mode == "keyword":
            return 0.5 * entry.all_terms + 0.5 * position
        return (similarity + ALL_TERMS_BONUS * entry.all_terms + POSITION_BONUS * position) / _HYBRID_MAX

    def _rank(self, fused: dict[Any, _Fused], mode: str, threshold: float, limit: int) -> list[_Fused]:
        kept = [e for e in fused.values() if self._keep(e, mode, threshold)]
        for entry in kept:
            entry.score = round(self._score(entry, mode), 4)
        kept.sort(key=lambda e: (e.score, self._similarity(e.cosine)), reverse=True)
        return kept[:limit]

    async def _vector_and_keyword(
        self, text: str, mode: str, keyword: Callable[[], Awaitable[T]]
    ) -> tuple[list[float] | None, str | None, T | None]:
        """The query vector and the keyword candidates, side by side: the full-text query runs in
        PostgreSQL (its own connection) while the query is embedded in a thread, ~20-30 ms each at
        100k events. Keyword candidates get their cosine afterwards (`_with_cosines`)."""
        if mode == "semantic":
            return (*await self._query_vector(text, mode), None)
        # A task, not a TaskGroup: a failure of the keyword query (the database is down) must reach
        # the tool as itself, not wrapped in an ExceptionGroup that the tool layer cannot read.
        found = asyncio.create_task(keyword())
        try:
            vector, notice = await self._query_vector(text, mode)
        except BaseException:
            found.cancel()
            await asyncio.gather(found, return_exceptions=True)
            raise
        return vector, notice, await found

    async def _with_cosines(
        self, db, table: Literal["events", "sessions"], candidates: list[Candidate], vector, semantic: list[Candidate]
    ) -> list[Candidate]:
        """Keyword candidates with their cosine to the query (those the vector search returned get it
        there: fusion keeps the larger), so every result reports a similarity."""
        known = {c.row.id for c in semantic}
        ids = [c.row.id for c in candidates if c.row.id not in known]
        lookup = repo.event_cosines if table == "events" else repo.session_cosines
        found = await lookup(db, ids, vector, self._embedder.model) if ids and vector is not None else {}
        return [dataclasses.replace(c, cosine=found.get(c.row.id)) if c.row.id in found else c for c in candidates]

    # --- events --------------------------------------------------------------------------------
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
        mode: Any = "hybrid",
    ) -> EventSearchResults:
        filters = SearchFilters(
            session_id=v.parse_optional_uuid(session_id, "session_id"),
            event_type=v.check_event_type_filter(event_type, self._settings) if event_type is not None else None,
            agent=v.check_agent(agent, self._settings) if agent is not None else None,
            project_id=v.parse_optional_uuid(project_id, "project_id"),
            since=v.parse_datetime(since, "since"),
            until=v.parse_datetime(until, "until"),
        )
        text, lim, thr, mode = self._check(query, limit, threshold, mode)
        pool = self._pool(lim)

        async def keyword() -> list[Candidate]:
            async with self._db.connect() as conn:
                return await repo.keyword_events(conn, text, limit=pool, filters=filters)

        vector, notice, keyword_hits = await self._vector_and_keyword(text, mode, keyword)
        lists: list[tuple[str, list[Candidate]]] = []
        async with self._db.begin() as conn:
            if vector is not None:
                await repo.tune_hnsw(conn, pool)
                semantic = await repo.semantic_events(
                    conn, vector, model_name=self._embedder.model, limit=pool, filters=filters
                )
                lists.append(("semantic", semantic))
                if keyword_hits:
                    keyword_hits = await self._with_cosines(conn, "events", keyword_hits, vector, semantic)
            if keyword_hits is not None:
                lists.append(("keyword", keyword_hits))
            pending = (await queue.pending_counts(conn))["events"]
        ranked = self._rank(_fuse(lists, key=lambda c: c.row.id), mode, thr, lim)
        hits = [
            EventHit(
                **event_fields(e.row),
                agent=e.agent,
                similarity=self._similarity(e.cosine),
                score=e.score,
                matched_by=e.matched_by,
            )
            for e in ranked
        ]
        return EventSearchResults(
            query=text, mode=mode, threshold=thr, results=hits, pending_embeddings=pending, notice=notice
        )

    # --- sessions ------------------------------------------------------------------------------
    async def search_sessions(
        self,
        query: Any,
        limit: Any = 10,
        threshold: Any = 0.7,
        agent: Any = None,
        project_id: Any = None,
        since: Any = None,
        until: Any = None,
        active_only: Any = False,
        mode: Any = "hybrid",
    ) -> SessionSearchResults:
        filters = SearchFilters(
            agent=v.check_agent(agent, self._settings) if agent is not None else None,
            project_id=v.parse_optional_uuid(project_id, "project_id"),
            since=v.parse_datetime(since, "since"),
            until=v.parse_datetime(until, "until"),
            active_only=bool(active_only),
        )
        text, lim, thr, mode = self._check(query, limit, threshold, mode)
        pool = self._pool(lim)
        model = self._embedder.model
        # Events vote for their session; time filters apply to the session's start, not the event.
        event_filters = SearchFilters(
            agent=filters.agent, project_id=filters.project_id, active_only=filters.active_only
        )

        async def keyword() -> tuple[list[Candidate], list[Candidate]]:
            async with self._db.connect() as conn:
                return (
                    await repo.keyword_sessions(conn, text, limit=pool, filters=filters),
                    await repo.keyword_events(conn, text, limit=pool, filters=event_filters),
                )

        vector, notice, keyword_hits = await self._vector_and_keyword(text, mode, keyword)
        keyword_sessions, keyword_events = keyword_hits if keyword_hits is not None else ([], [])
        lists: list[tuple[str, list[Candidate]]] = []
        event_lists: list[tuple[str, list[Candidate]]] = []
        async with self._db.begin() as conn:
            if vector is not None:
                await repo.tune_hnsw(conn, pool)
                semantic = await repo.semantic_sessions(conn, vector, model_name=model, limit=pool, filters=filters)
                semantic_events = await repo.semantic_events(
                    conn, vector, model_name=model, limit=pool, filters=event_filters
                )
                lists.append(("semantic", semantic))
                event_lists.append(("semantic", semantic_events))
                keyword_sessions = await self._with_cosines(conn, "sessions", keyword_sessions, vector, semantic)
                keyword_events = await self._with_cosines(conn, "events", keyword_events, vector, semantic_events)
            if keyword_hits is not None:
                lists.append(("keyword", keyword_sessions))
                event_lists.append(("keyword", keyword_events))
            via_events = await self._sessions_via_events(conn, event_lists, vector, mode, thr, filters)
            if via_events:
                lists.append(("events", via_events))
            pending = (await queue.pending_counts(conn))["sessions"]
        ranked = self._rank(_fuse(lists, key=lambda c: c.row.id), mode, thr, lim)
        hits = [
            SessionHit(
                **session_fields(e.row), similarity=self._similarity(e.cosine), score=e.score, matched_by=e.matched_by
            )
            for e in ranked
        ]
        return SessionSearchResults(
            query=text, mode=mode, threshold=thr, results=hits, pending_embeddings=pending, notice=notice
        )

    async def _sessions_via_events(
        self,
        db,
        event_lists: list[tuple[str, list[Candidate]]],
        vector: list[float] | None,
        mode: str,
        threshold: float,
        filters: SearchFilters,
    ) -> list[Candidate]:
        """Rank sessions by their best-matching event (only events that would be results themselves)."""
        fused_events = _fuse(event_lists, key=lambda c: c.row.id)
        best: dict[uuid.UUID, _Fused] = {}
        for entry in sorted(fused_events.values(), key=lambda e: self._score(e, mode), reverse=True):
            if not self._keep(entry, mode, threshold):
                continue
            sid = entry.row.session_id
            if sid not in best:
                best[sid] = entry
            elif entry.cosine is not None:
                best[sid].cosine = max(best[sid].cosine or -1.0, entry.cosine)
        if not best:
            return []
        sessions = await repo.sessions_by_id(db, list(best), filters)
        own = await repo.session_cosines(db, list(sessions), vector, self._embedder.model) if vector else {}
        out = []
        for sid, entry in best.items():
            if sid not in sessions:
                continue
            cosines = [c for c in (entry.cosine, own.get(sid)) if c is not None]
            out.append(
                Candidate(
                    row=sessions[sid],
                    agent=sessions[sid].agent,
                    cosine=max(cosines) if cosines else None,
                    all_terms=entry.all_terms,
                )
            )
        return out
