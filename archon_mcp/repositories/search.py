"""Search SQL: nearest neighbours (pgvector HNSW, cosine) and full-text matches (tsvector, GIN)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, select, text, union
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from archon_mcp.models import AgentSession, SessionEvent
from archon_mcp.repositories import events as events_repo
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.repositories.sessions import filter_sessions

# Search reads Core rows (the columns the public models are made of, named like the ORM attributes),
# not ORM objects: no identity map or instance state for the 40-200 candidates of every search.
EVENT_COLUMNS = (*events_repo.RETURNED, AgentSession.agent.label("agent"))
SESSION_COLUMNS = sessions_repo.RETURNED
DB = AsyncSession | AsyncConnection

# HNSW candidate list size. With the graph of migration 0003 (m = 24, ef_construction = 128),
# recall@10 vs exact search at 100k events is 0.9825-0.9925 at 100 and 0.9925-0.999 at 200, for
# 6-11 ms p50 (docs/BENCHMARKS.md, bench/results/scale_hnsw.json).
EF_SEARCH = 200
# Keyword candidates ranked per search: rows matching every query term (specific: rare identifiers,
# phrases) and rows matching any term (a query's common words match most of a store, and those
# candidates are an arbitrary sample anyway). Ranking 2 x 1,000 took 40-115 ms at 10k events,
# 1,000 + 200 about a third of that (docs/BENCHMARKS.md).
ALL_TERMS_CAP = 1000
ANY_TERM_CAP = 200


@dataclass(frozen=True)
class SearchFilters:
    agent: str | None = None
    project_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    active_only: bool = False  # sessions
    session_id: uuid.UUID | None = None  # events
    event_type: str | None = None  # events


@dataclass(frozen=True)
class Candidate:
    row: Any  # AgentSession or SessionEvent
    agent: str
    cosine: float | None  # None: no vector yet (pending) or none to compute
    keyword_rank: float = 0.0
    all_terms: bool = False  # every query term matched (a strong keyword hit)


def split_identifiers(query: str) -> str:
    """The same split the index applies: every run of non-alphanumerics becomes a space."""
    return re.sub(r"[\W_]+", " ", query).strip()


def _any_term(config: str, query: str):
    """tsquery matching ANY of the query's terms (plainto_tsquery ANDs them)."""
    return cast(func.replace(cast(func.plainto_tsquery(config, query), Text), "&", "|"), TSQUERY)


def _queries(query: str) -> tuple[Any, Any, Any]:
    split = split_identifiers(query)
    any_term = _any_term("english", query).op("||")(_any_term("simple", split))
    return any_term, func.plainto_tsquery("english", query), func.plainto_tsquery("simple", split)


async def tune_hnsw(db: DB, limit: int) -> None:
    """Per-transaction knobs for a search: a wider HNSW candidate list, iterative scans so that
    filtered queries still fill `limit` (pgvector >= 0.8), and no sequential scans.

    Below ~50k rows the planner prices the HNSW scan (its start-up cost grows with ef_search) above
    a sequential scan plus a top-N sort, and picks the scan, which must read every TOASTed vector:
    34 ms instead of 1.6 ms for 40 neighbours at 10k events (EXPLAIN ANALYZE, docs/BENCHMARKS.md).
    Discouraging sequential scans leaves the choice between the HNSW index and the other indexes
    (a session's own events by `session_id`) to the planner; every search query has an index path."""
    ef_search = max(EF_SEARCH, limit * 4)
    await db.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :v, true), set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('enable_seqscan', 'off', true)"
        ),
        {"v": str(ef_search)},
    )


def _session_where(stmt: Any, f: SearchFilters) -> Any:
    return filter_sessions(
        stmt, agent=f.agent, project_id=f.project_id, since=f.since, until=f.until, active_only=f.active_only
    )


def _event_where(stmt: Any, f: SearchFilters) -> Any:
    """Event filters; agent/project apply through the parent session. `since`/`until` bound the
    event's own time, except for `active_only`, which is about the session."""
    if f.session_id is not None:
        stmt = stmt.where(SessionEvent.session_id == f.session_id)
    if f.event_type is not None:
        stmt = stmt.where(SessionEvent.event_type == f.event_type)
    if f.agent is not None:
        stmt = stmt.where(AgentSession.agent == f.agent)
    if f.project_id is not None:
        stmt = stmt.where(AgentSession.project_id == f.project_id)
    if f.since is not None:
        stmt = stmt.where(SessionEvent.timestamp >= f.since)
    if f.until is not None:
        stmt = stmt.where(SessionEvent.timestamp < f.until)
    if f.active_only:
        stmt = stmt.where(AgentSession.ended_at.is_(None))
    return stmt


async def semantic_sessions(
    db: DB, vector: list[float], *, model_name: str, limit: int, filters: SearchFilters
) -> list[Candidate]:
    distance = AgentSession.embedding.cosine_distance(vector).label("distance")
    stmt = select(*SESSION_COLUMNS, distance).where(
        AgentSession.embedding.is_not(None), AgentSession.embedding_model == model_name
    )
    stmt = _session_where(stmt, filters).order_by(distance).limit(limit)
    return [Candidate(row=r, agent=r.agent, cosine=1.0 - float(r.distance)) for r in (await db.execute(stmt)).all()]


async def semantic_events(
    db: DB, vector: list[float], *, model_name: str, limit: int, filters: SearchFilters
) -> list[Candidate]:
    distance = SessionEvent.embedding.cosine_distance(vector).label("distance")
    stmt = (
        select(*EVENT_COLUMNS, distance)
        .join(AgentSession, AgentSession.id == SessionEvent.session_id)
        .where(SessionEvent.embedding.is_not(None), SessionEvent.embedding_model == model_name)
    )
    stmt = _event_where(stmt, filters).order_by(distance).limit(limit)
    return [Candidate(row=r, agent=r.agent, cosine=1.0 - float(r.distance)) for r in (await db.execute(stmt)).all()]


def _capped_matches(base: Any, tsv: Any, any_term: Any, all_english: Any, all_simple: Any) -> Any:
    """Ids to rank: up to ALL_TERMS_CAP rows matching every term, plus ANY_TERM_CAP matching any term.
    Ranking every row that shares one common word with the query costs seconds at 100k rows; rows
    with all the terms (rare identifiers, specific phrases) are always among the candidates."""
    all_terms = base.where(or_(tsv.op("@@")(all_english), tsv.op("@@")(all_simple))).limit(ALL_TERMS_CAP)
    any_terms = base.where(tsv.op("@@")(any_term)).limit(ANY_TERM_CAP)
    return union(all_terms, any_terms).subquery()


async def _keyword(db: DB, model: Any, columns: tuple[Any, ...], where: Any, query: str, *, limit: int) -> list[Any]:
    """Rows matching the query's words, those with every word first, then by ts_rank_cd. No vector
    is needed, so this runs while the query is being embedded (see services/search.py)."""
    any_term, all_english, all_simple = _queries(query)
    tsv = model.search_tsv
    base = (
        where(select(model.id).join(AgentSession, AgentSession.id == model.session_id))
        if model is SessionEvent
        else (where(select(model.id)))
    )
    ids = _capped_matches(base, tsv, any_term, all_english, all_simple)
    all_terms = or_(tsv.op("@@")(all_english), tsv.op("@@")(all_simple)).label("all_terms")
    rank = func.ts_rank_cd(tsv, any_term).label("keyword_rank")
    stmt = select(*columns, rank, all_terms)
    if model is SessionEvent:
        stmt = stmt.join(AgentSession, AgentSession.id == SessionEvent.session_id)
    stmt = stmt.where(model.id.in_(select(ids.c.id))).order_by(all_terms.desc(), rank.desc()).limit(limit)
    return list((await db.execute(stmt)).all())


async def keyword_sessions(db: DB, query: str, *, limit: int, filters: SearchFilters) -> list[Candidate]:
    where = lambda stmt: _session_where(stmt, filters)  # noqa: E731
    rows = await _keyword(db, AgentSession, SESSION_COLUMNS, where, query, limit=limit)
    return [_keyword_candidate(r) for r in rows]


async def keyword_events(db: DB, query: str, *, limit: int, filters: SearchFilters) -> list[Candidate]:
    where = lambda stmt: _event_where(stmt, filters)  # noqa: E731
    rows = await _keyword(db, SessionEvent, EVENT_COLUMNS, where, query, limit=limit)
    return [_keyword_candidate(r) for r in rows]


def _keyword_candidate(r: Any) -> Candidate:
    # cosine: filled in by `cosines` once the query vector exists
    return Candidate(row=r, agent=r.agent, keyword_rank=float(r.keyword_rank), all_terms=bool(r.all_terms), cosine=None)


async def sessions_by_id(db: DB, ids: list[uuid.UUID], filters: SearchFilters) -> dict[uuid.UUID, Any]:
    if not ids:
        return {}
    stmt = _session_where(select(*SESSION_COLUMNS).where(AgentSession.id.in_(ids)), filters)
    return {row.id: row for row in (await db.execute(stmt)).all()}


async def event_cosines(db: DB, ids: list[uuid.UUID], vector: list[float], model_name: str) -> dict[uuid.UUID, float]:
    return await _cosines(db, SessionEvent, ids, vector, model_name)


async def session_cosines(db: DB, ids: list[uuid.UUID], vector: list[float], model_name: str) -> dict[uuid.UUID, float]:
    return await _cosines(db, AgentSession, ids, vector, model_name)


async def _cosines(
    db: DB, model: Any, ids: list[uuid.UUID], vector: list[float], model_name: str
) -> dict[uuid.UUID, float]:
    """Cosine similarity to the query of the given rows that have a vector of `model_name` (keyword
    hits the vector search did not return; sessions found through their events)."""
    if not ids:
        return {}
    stmt = select(model.id, 1 - model.embedding.cosine_distance(vector)).where(
        model.id.in_(ids), model.embedding.is_not(None), model.embedding_model == model_name
    )
    return {r[0]: float(r[1]) for r in (await db.execute(stmt)).all()}
