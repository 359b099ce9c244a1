"""Search SQL: nearest neighbours (pgvector HNSW, cosine) and full-text matches (tsvector, GIN)."""

from __future__ import annotations

import dataclasses
import functools
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnClause,
    Float,
    Integer,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import Grouping

from archon_mcp.models import AgentSession, SessionEvent
from archon_mcp.repositories import events as events_repo
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.repositories.sessions import filter_sessions

# Search reads Core rows (the columns the public models are made of, named like the ORM attributes),
# not ORM objects. Candidates are light: what ranking needs (id, session, time, the scores), so the
# ~200 candidates of a search decode no `event_data`; the full rows are read for the results alone.
EVENT_COLUMNS = (*events_repo.RETURNED, AgentSession.agent.label("agent"))
SESSION_COLUMNS = sessions_repo.RETURNED
EVENT_KEYS = (SessionEvent.id, SessionEvent.session_id, SessionEvent.timestamp)
SESSION_KEYS = (AgentSession.id, AgentSession.started_at)
DB = AsyncSession | AsyncConnection

# HNSW candidate list size. With the graph of migration 0003 (m = 24, ef_construction = 128),
# recall@10 vs exact search at 100k events is 0.9825-0.9925 at 100 and 0.9925-0.999 at 200, for
# 6-11 ms p50 (docs/BENCHMARKS.md, bench/results/scale_hnsw.json).
EF_SEARCH = 200
# A graph ten times larger needs about twice the candidate list for the same recall: at 1M events
# recall@10 is 0.904 at 200 and 0.962 at 400 (bench/results/scale_1m.json). So the list doubles per
# tenfold rows above EF_REFERENCE_ROWS (400 at 1M, 800 at 10M), never below 4x the neighbours
# asked for (a search asks for at least 100: 400), up to pgvector's largest ef_search.
EF_REFERENCE_ROWS = 100_000
EF_SEARCH_MAX = 1000
# BM25 (Robertson and Sparck Jones; Lucene's defaults and IDF): term frequency saturation k1 and
# document-length normalisation b. An occurrence in an event's context (the previous event, the
# session's descriptors: weight B of migration 0004) counts CONTEXT_WEIGHT of one in its own text,
# in the term frequency and in the document length alike.
BM25_K1 = 1.2
BM25_B = 0.75
CONTEXT_WEIGHT = 0.3
# Rows ranked per keyword query at most: CANDIDATE_BUDGET, or BUDGET_PER_RESULT per row asked for if
# that is more. They come rarest query term first: every row holding the rarest terms while they
# fit, so a query's common words never decide which rows get ranked. Scoring costs ~10 us a row
# (most of a BM25 statement's time at 100k events); 500 ranks as 1,000 did on the LoCoMo
# development split and on bench/eval (docs/SEARCH.md), 300 a little worse.
CANDIDATE_BUDGET = 500
BUDGET_PER_RESULT = 5
# Document frequencies are counted through the GIN index up to this many rows; a term that reaches
# it takes the planner statistics' estimate (pg_stats.most_common_elems) if that is larger.
DF_COUNT_CAP = 2000
TABLES = {"events": "archon_session_events", "sessions": "archon_sessions"}


@dataclass(frozen=True)
class SearchFilters:
    agent: str | None = None
    project_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    active_only: bool = False  # sessions
    session_id: uuid.UUID | None = None  # events
    event_type: str | None = None  # events


_FILTERS = tuple(f.name for f in dataclasses.fields(SearchFilters))


def _filter_shape(filters: SearchFilters) -> tuple[str, ...]:
    """Which filters are set: what a statement's text depends on (their values are bound)."""
    return tuple(name for name in _FILTERS if getattr(filters, name) not in (None, False))


@functools.cache
def _bound_filters(shape: tuple[str, ...]) -> SearchFilters:
    """Filters whose values are named bind parameters (`f_<name>`), for a statement built once."""
    values: dict[str, Any] = {name: True if name == "active_only" else bindparam(f"f_{name}") for name in shape}
    return SearchFilters(**values)


def _filter_params(filters: SearchFilters) -> dict[str, Any]:
    return {f"f_{name}": getattr(filters, name) for name in _filter_shape(filters) if name != "active_only"}


@dataclass(frozen=True)
class Candidate:
    row: Any  # light row: EVENT_KEYS or SESSION_KEYS, and the Extras asked for
    cosine: float | None  # None: no vector yet (pending) or none to compute
    bm25: float = 0.0  # keyword score (0: not a keyword match)
    all_terms: bool = False  # every query term matched (a strong keyword hit)
    names_value: bool = False  # events: the query names one of its short values (migration 0006)


@dataclass(frozen=True)
class Extras:
    """What ranking needs of each candidate besides its keys, computed in the candidate statement
    itself rather than looked up after it (one round trip and one decode of the rows fewer)."""

    vector: list[float] | None = None  # the query's: every candidate's cosine (`cosine`)
    model_name: str = ""
    neighbours: bool = False  # events: the previous and next event of the session (`previous`, `next`)
    session_cosine: bool = False  # events: their session's cosine to the query (`session_cosine`)
    session_terms: SessionTerms | None = None  # events: their session's BM25 for the query (`session_bm25`)
    session_started: bool = False  # events: when their session started (`session_started_at`)
    query_text: str | None = None  # events: whether the query names one of their values (`names_value`)

    def with_query(self, vector: list[float] | None, model_name: str) -> Extras:
        """These extras with the query's vector (None: none to compare with)."""
        return dataclasses.replace(self, vector=vector, model_name=model_name)


@dataclass(frozen=True)
class SessionTerms:
    """The query's lexemes with their idf in the sessions table and that table's mean document
    length: what an event's `session_bm25` column needs (its session's match, the evidence it
    draws on, in the event's own candidate statement rather than one more after it)."""

    lexemes: list[str]
    idf: list[float]
    avg_length: float


# The query's vector and model, bound once per statement by name: the vector is sent once however
# many columns use it, and the statements below are built once, not per search.
_QUERY_VECTOR = bindparam("query_vector", type_=SessionEvent.embedding.type)
_MODEL_NAME = bindparam("model_name", type_=Text())
# The other values a search binds by name, so that every statement below is built once per shape
# (which filters, which extra columns, how many fill tiers) and its SQL text stays the same: no
# statement building on the request path, and the driver's prepared statements are reused. Lists
# of ids are one array (`= ANY(:ids)`), not an IN list whose text changes with its length.
_IDS = bindparam("ids", type_=ARRAY(Uuid()))
_LIMIT = bindparam("limit", type_=Integer())
_LEXEMES = bindparam("lexemes", type_=ARRAY(Text()))
_IDF = bindparam("idf", type_=ARRAY(Float()))
_AVG_LENGTH = bindparam("avg_length", type_=Float())


_SESSION_LEXEMES = bindparam("session_lexemes", type_=ARRAY(Text()))
_SESSION_IDF = bindparam("session_idf", type_=ARRAY(Float()))
_SESSION_AVG_LENGTH = bindparam("session_avg_length", type_=Float())
_QUERY_TEXT = bindparam("query_text", type_=Text())


def _params(extras: Extras) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if extras.vector is not None:
        params.update(query_vector=extras.vector, model_name=extras.model_name)
    if extras.session_terms is not None:
        terms = extras.session_terms
        params.update(session_lexemes=terms.lexemes, session_idf=terms.idf, session_avg_length=terms.avg_length)
    if extras.query_text is not None:
        params["query_text"] = extras.query_text
    return params


def _extra_columns(model: Any, extras: Extras, *, cosine: bool) -> tuple[Any, ...]:
    with_vector = extras.vector is not None
    events = model is SessionEvent
    return _built_columns(
        model, cosine and with_vector, events and extras.neighbours, events and extras.session_cosine and with_vector,
        events and extras.session_terms is not None, events and extras.session_started,
        events and extras.query_text is not None,
    )  # fmt: skip


@functools.cache
def _built_columns(
    model: Any,
    cosine: bool,
    neighbours: bool,
    session_cosine: bool,
    session_bm25: bool,
    session_started: bool,
    names_value: bool,
) -> tuple[Any, ...]:
    columns: list[Any] = []
    if cosine:
        has_vector = and_(model.embedding.is_not(None), model.embedding_model == _MODEL_NAME)
        columns.append(
            case((has_vector, 1 - model.embedding.cosine_distance(_QUERY_VECTOR)), else_=None).label("cosine")
        )
    if neighbours:
        around = aliased(SessionEvent)
        here = tuple_(SessionEvent.timestamp, SessionEvent.id)
        there = tuple_(around.timestamp, around.id)
        for label, before in (("previous", True), ("next", False)):
            order = (around.timestamp.desc(), around.id.desc()) if before else (around.timestamp, around.id)
            probe = (
                select(around.id)
                .where(around.session_id == SessionEvent.session_id, there < here if before else there > here)
                .order_by(*order)
                .limit(1)
            )
            columns.append(probe.scalar_subquery().label(label))
    if session_cosine:
        session = aliased(AgentSession)
        probe = select(1 - session.embedding.cosine_distance(_QUERY_VECTOR)).where(
            session.id == SessionEvent.session_id,
            session.embedding.is_not(None),
            session.embedding_model == _MODEL_NAME,
        )
        columns.append(probe.scalar_subquery().label("session_cosine"))
    if session_bm25:
        session = aliased(AgentSession)
        length = _doc_length(session.search_tsv)
        terms, bm25 = _term_scores(session.search_tsv, length, _SESSION_LEXEMES, _SESSION_IDF, _SESSION_AVG_LENGTH)
        probe = select(bm25).select_from(session).join(terms, true())
        columns.append(probe.where(session.id == SessionEvent.session_id).scalar_subquery().label("session_bm25"))
    if session_started:
        session = aliased(AgentSession)
        started = select(session.started_at).where(session.id == SessionEvent.session_id)
        columns.append(started.scalar_subquery().label("session_started_at"))
    if names_value:
        # The query's words once per statement (an InitPlan), then a substring test of each of the
        # row's few named values (migration 0006): " caroline " in " what did caroline buy ".
        words = select(_padded(func.archon_words(_QUERY_TEXT))).scalar_subquery()
        value = func.unnest(SessionEvent.named_values).table_valued("value").render_derived(name="named")
        in_query: Any = func.strpos(words, _padded(value.c.value)) > 0
        columns.append(exists(select(literal_column("1")).select_from(value).where(in_query)).label("names_value"))
    return tuple(columns)


_SPACE = literal_column("' '", type_=Text())


def _padded(words: Any) -> Any:
    return _SPACE.concat(words).concat(_SPACE)


def _names_value(model: Any, extras: Extras, row: Any) -> bool:
    """Whether the query names one of this candidate's values (the `names_value` column asked for)."""
    return extras.query_text is not None and model is SessionEvent and bool(row.names_value)


def ef_search_for(limit: int, rows: float) -> int:
    """The HNSW candidate list for `limit` neighbours in a table of `rows` rows."""
    growth = max(1.0, rows / EF_REFERENCE_ROWS) ** math.log10(2)
    return min(EF_SEARCH_MAX, max(limit, limit * 4, round(EF_SEARCH * growth)))


async def tune_hnsw(db: DB, limit: int, rows: float = 0.0) -> None:
    """Per-transaction knobs for a search: a wider HNSW candidate list, iterative scans so that
    filtered queries still fill `limit` (pgvector >= 0.8), and no sequential scans.

    Below ~50k rows the planner prices the HNSW scan (its start-up cost grows with ef_search) above
    a sequential scan plus a top-N sort, and picks the scan, which must read every TOASTed vector:
    34 ms instead of 1.6 ms for 40 neighbours at 10k events (EXPLAIN ANALYZE, docs/BENCHMARKS.md).
    Discouraging sequential scans leaves the choice between the HNSW index and the other indexes
    (a session's own events by `session_id`) to the planner; every search query has an index path."""
    ef_search = ef_search_for(limit, rows)
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
    db: DB, vector: list[float], *, model_name: str, limit: int, filters: SearchFilters, extras: Extras = Extras()
) -> list[Candidate]:
    return await _semantic(db, AgentSession, vector, model_name, limit, filters, extras)


async def semantic_events(
    db: DB, vector: list[float], *, model_name: str, limit: int, filters: SearchFilters, extras: Extras = Extras()
) -> list[Candidate]:
    return await _semantic(db, SessionEvent, vector, model_name, limit, filters, extras)


async def _semantic(
    db: DB, model: Any, vector: list[float], model_name: str, limit: int, filters: SearchFilters, extras: Extras
) -> list[Candidate]:
    """The `limit` rows nearest to `vector` (pgvector's HNSW index; `tune_hnsw` sets its knobs)."""
    extras = extras.with_query(vector, model_name)
    stmt = _nearest(model, _extra_columns(model, extras, cosine=False), _filter_shape(filters))
    params = {**_params(extras), **_filter_params(filters), "limit": limit}
    rows = (await db.execute(stmt, params)).all()
    return [Candidate(row=r, cosine=1.0 - float(r.distance), names_value=_names_value(model, extras, r)) for r in rows]


@functools.cache
def _nearest(model: Any, columns: tuple[Any, ...], shape: tuple[str, ...]) -> Any:
    filters = _bound_filters(shape)
    distance = model.embedding.cosine_distance(_QUERY_VECTOR).label("distance")
    keys = EVENT_KEYS if model is SessionEvent else SESSION_KEYS
    stmt = select(*keys, *columns, distance).where(model.embedding.is_not(None), model.embedding_model == _MODEL_NAME)
    if model is SessionEvent:
        if _needs_session(filters):
            stmt = stmt.join(AgentSession, AgentSession.id == SessionEvent.session_id)
        stmt = _event_where(stmt, filters)
    else:
        stmt = _session_where(stmt, filters)
    return stmt.order_by(distance).limit(_LIMIT)


def _needs_session(filters: SearchFilters) -> bool:
    """Whether an events statement must join the session: a filter is about it."""
    return filters.agent is not None or filters.project_id is not None or filters.active_only


@dataclass(frozen=True)
class TableStats:
    """What BM25 needs of a whole table: its row count, mean document length, and the document
    frequency of its common lexemes (a fraction of the rows, from ANALYZE)."""

    rows: float
    avg_length: float
    common: dict[str, float]

    @functools.cached_property
    def known_common(self) -> list[str]:
        """Lexemes whose estimated document frequency is past DF_COUNT_CAP: not worth counting."""
        return sorted(lexeme for lexeme, share in self.common.items() if share * self.rows > DF_COUNT_CAP)


_OWN_WEIGHTS: ColumnClause[Any] = literal_column("'{a}'")  # weight A: the row's own text
_CONTEXT_WEIGHTS: ColumnClause[Any] = literal_column("'{b,c,d}'")  # its context


def _doc_length(tsv: Any) -> Any:
    """A row's length for BM25: its distinct lexemes, own text counting 1 and context CONTEXT_WEIGHT.
    (Distinct lexemes rather than words: `length()` is computed in C without unnesting the vector.)"""
    return func.length(func.ts_filter(tsv, _OWN_WEIGHTS)) + CONTEXT_WEIGHT * func.length(
        func.ts_filter(tsv, _CONTEXT_WEIGHTS)
    )


def _term_scores(tsv: Any, length: Any, lexemes: Any, idf: Any, avg_length: Any) -> tuple[Any, Any]:
    """A row's occurrences of the query lexemes in one unnest (every other lexeme deleted, their
    positions and weights kept) and its BM25 over them: (the unnest, the sum to select from it). An
    occurrence in the row's own text (weight A) counts 1, one in its context CONTEXT_WEIGHT."""
    reduced = func.ts_delete(tsv, func.tsvector_to_array(func.ts_delete(tsv, lexemes)))
    u = func.unnest(reduced).table_valued("lexeme", "positions", "weights").lateral("terms")
    in_context = func.cardinality(func.array_remove(u.c.weights, literal_column("'A'")))
    tf = func.cardinality(u.c.positions) - (1 - CONTEXT_WEIGHT) * in_context
    term_idf = Grouping(idf)[func.array_position(lexemes, u.c.lexeme)]
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_length)
    return u, func.sum(term_idf * tf * (BM25_K1 + 1) / (tf + norm))


# The same length in SQL text, for the table statistics.
_LENGTH_SQL = (
    f"(length(ts_filter(search_tsv, '{{a}}')) + {CONTEXT_WEIGHT} * length(ts_filter(search_tsv, '{{b,c,d}}')))"
)


async def table_stats(db: DB, table: str, *, sample_rows: int = 5000) -> TableStats:
    """Row count and mean weighted length: exact on small tables, from a block sample on large ones
    (the planner's row estimate scaled to the table's current size, as the planner does)."""
    name = TABLES[table]
    estimate, common, freqs = (
        await db.execute(
            text(
                f"""
                SELECT (SELECT CASE WHEN c.reltuples > 0 AND c.relpages > 0
                          THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int)
                        END FROM pg_class AS c WHERE c.oid = '{name}'::regclass),
                       s.most_common_elems::text::text[], s.most_common_elem_freqs
                FROM (SELECT 1) AS one
                LEFT JOIN pg_stats AS s ON s.schemaname = current_schema() AND s.tablename = '{name}'
                  AND s.attname = 'search_tsv'
                """
            )
        )
    ).one()
    if estimate is None or estimate <= sample_rows * 2:
        stmt = text(f"SELECT count(*), avg({_LENGTH_SQL}) FROM {name}")
        rows, avg_length = (await db.execute(stmt)).one()
    else:
        percent = min(100.0, 100.0 * sample_rows / float(estimate))
        stmt = text(f"SELECT avg({_LENGTH_SQL}) FROM {name} TABLESAMPLE SYSTEM ({percent:.4f})")
        rows, avg_length = float(estimate), await db.scalar(stmt)
    mapping = dict(zip(common or [], freqs or [], strict=False))  # freqs ends with 3 summary values
    return TableStats(rows=float(rows or 0), avg_length=float(avg_length or 1.0) or 1.0, common=mapping)


async def lexemes_and_frequencies(
    db: DB, query: str, stats: dict[str, TableStats]
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The query's terms in the index's lexeme space (split, stemmed, stop words dropped: the
    `archon_query_lexemes` function of migration 0004) and, for each table of `stats`, the rows holding
    each lexeme, in one statement: counted through the GIN index up to DF_COUNT_CAP (a rare term is
    cheap to count and its count is what BM25 weighs most), else the larger of the cap and the
    ANALYZE estimate. Lexemes known to be common are not counted at all."""
    tables = list(stats)
    counts = ", ".join(
        f"""CASE WHEN q.l = ANY(CAST(:known_{table} AS text[])) THEN NULL
                 ELSE (SELECT count(*) FROM (SELECT 1 FROM {TABLES[table]}
                       WHERE search_tsv @@ to_tsquery('simple', q.l) LIMIT :cap) AS m) END"""
        for table in tables
    )
    stmt = text(
        f"SELECT q.l, {counts} FROM unnest(archon_query_lexemes(:query)) WITH ORDINALITY AS q(l, n) ORDER BY q.n"
    )
    params: dict[str, Any] = {"query": query, "cap": DF_COUNT_CAP}
    params.update({f"known_{table}": stats[table].known_common for table in tables})
    lexemes: list[str] = []
    df: dict[str, dict[str, float]] = {table: {} for table in tables}
    for lexeme, *found in (await db.execute(stmt, params)).all():
        if lexeme in df[tables[0]]:
            continue
        lexemes.append(lexeme)
        for table, count in zip(tables, found, strict=True):
            estimate = stats[table].common.get(lexeme, 0.0) * stats[table].rows
            if count is None:  # known to be common
                df[table][lexeme] = estimate
            else:
                df[table][lexeme] = float(max(count, estimate) if count >= DF_COUNT_CAP else count)
    return lexemes, df


def idf(rows: float, df: float) -> float:
    """BM25's inverse document frequency (Lucene's form: never negative)."""
    return math.log(1.0 + (rows - df + 0.5) / (df + 0.5))


def plan_candidates(df: dict[str, float], budget: int | None = None) -> tuple[list[str], str | None, int]:
    """Which rows to rank: all rows of the rarest lexemes while their counts fit in `budget`
    (CANDIDATE_BUDGET), then up to the rest of the budget of the next rarest. Returns (rare lexemes,
    next lexeme, its limit)."""
    budget = CANDIDATE_BUDGET if budget is None else budget
    order = sorted(df, key=lambda lexeme: (df[lexeme], lexeme))
    rare: list[str] = []
    total = 0.0
    for lexeme in order:
        if total + df[lexeme] > budget:
            return rare, lexeme, int(budget - total)
        rare.append(lexeme)
        total += df[lexeme]
    return rare, None, 0


def candidate_budget(limit: int) -> int:
    """How many rows a keyword query ranks to return its best `limit`."""
    return max(CANDIDATE_BUDGET, BUDGET_PER_RESULT * limit)


def fill_tiers(rare: list[str], following: str, lexemes: list[str]) -> list[str]:
    """The tsqueries (of `to_tsquery('simple', ...)`) that fill the rest of the candidate budget
    from the rows of `following`, the rarest lexeme whose rows no longer fit: first the rows that
    hold every common lexeme of the query, then those that hold `following` and another, then the
    other rows of `following`. No tier repeats a row of an earlier one or of the rare lexemes' rows."""
    common = [lexeme for lexeme in lexemes if lexeme not in rare]
    others = [lexeme for lexeme in common if lexeme != following]
    wanted = []
    if others:
        wanted.append(" & ".join(common))
    if len(others) > 1:
        wanted.append(f"{following} & ({' | '.join(others)})")
    wanted.append(following)
    taken = [" | ".join(rare)] if rare else []
    tiers = []
    for tier in wanted:
        tiers.append(f"({tier})" + "".join(f" & !({earlier})" for earlier in taken))
        taken.append(tier)
    return tiers


async def _bm25(
    db: DB,
    model: Any,
    columns: tuple[Any, ...],
    lexemes: list[str],
    weights: dict[str, float],
    stats: TableStats,
    plan: tuple[list[str], str | None, int],
    *,
    limit: int,
    filters: SearchFilters = SearchFilters(),
    params: dict[str, Any] | None = None,
) -> list[Any]:
    """Rows ranked by BM25 over the query lexemes, with how many of them each row holds: the rows
    of the rare lexemes and of the fill tiers (`plan`)."""
    rare, following, following_limit = plan
    tiers = fill_tiers(rare, following, lexemes) if following is not None and following_limit > 0 else []
    stmt = _bm25_statement(model, columns, _filter_shape(filters), bool(rare), len(tiers))
    values: dict[str, Any] = {
        "lexemes": list(weights),
        "idf": [weights[lexeme] for lexeme in weights],
        "avg_length": stats.avg_length,
        "limit": limit,
        "rare": " | ".join(rare),
        "fill_limit": following_limit,
        **{f"tier_{i}": tier for i, tier in enumerate(tiers)},
        **_filter_params(filters),
        **(params or {}),
    }
    return list((await db.execute(stmt, values)).all())


@functools.cache
def _bm25_statement(model: Any, columns: tuple[Any, ...], shape: tuple[str, ...], has_rare: bool, tiers: int) -> Any:
    """The BM25 statement of one shape, built once; everything that varies is a bind parameter."""
    tsv = model.search_tsv
    filters = _bound_filters(shape)

    def base() -> Any:
        # The candidates carry their tsvector and its length, so that scoring reads each row once and
        # measures it once; the session is joined only when a filter is about it.
        stmt = select(model.id.label("id"), tsv.label("tsv"), _doc_length(tsv).label("dl"))
        if model is SessionEvent:
            if _needs_session(filters):
                stmt = stmt.join(AgentSession, AgentSession.id == SessionEvent.session_id)
            return _event_where(stmt, filters)
        return _session_where(stmt, filters)

    def matching(name: str) -> Any:
        return tsv.op("@@")(func.to_tsquery("simple", bindparam(name, type_=Text())))

    parts: list[Any] = []
    if has_rare:
        parts.append(base().where(matching("rare")))
    if tiers:
        # The rest of the budget, from the rows of the next rarest lexeme that hold the most of the
        # query's common lexemes: each tier in turn, until the budget is spent.
        fill_limit = bindparam("fill_limit", type_=Integer())
        if tiers > 1:
            fill = union_all(*(base().where(matching(f"tier_{i}")) for i in range(tiers)))
            parts.append(select(fill.subquery("fill")).limit(fill_limit))
        else:
            parts.append(base().where(matching("tier_0")).limit(fill_limit))
    # A CTE: both halves of the scoring read it, and it must be fetched once.
    candidates = (parts[0].union_all(*parts[1:]) if len(parts) > 1 else parts[0]).cte("candidates")

    u, bm25 = _term_scores(candidates.c.tsv, candidates.c.dl, _LEXEMES, _IDF, _AVG_LENGTH)
    row = select(bm25.label("bm25"), func.count().label("matched")).select_from(u).lateral("scores")
    scored = (
        select(candidates.c.id, row.c.bm25, row.c.matched)
        .select_from(candidates)
        .join(row, true())
        .where(row.c.matched > 0)
        .order_by(row.c.bm25.desc(), candidates.c.id)
        .limit(_LIMIT)
        .subquery("scored")
    )
    # The best `limit` rows, with what else ranking needs of them.
    stmt = select(*columns, scored.c.bm25, scored.c.matched).join(scored, scored.c.id == model.id)
    return stmt.order_by(scored.c.bm25.desc(), model.id).limit(_LIMIT)


async def keyword_search(
    db: DB,
    table: str,
    lexemes: list[str],
    df: dict[str, float],
    stats: TableStats,
    *,
    limit: int,
    filters: SearchFilters,
    extras: Extras = Extras(),
) -> list[Candidate]:
    """BM25 candidates of `table` ("events" or "sessions") for the query lexemes and their document
    frequencies (`lexemes_and_frequencies`), with their cosine to `extras.vector` when it is given."""
    if not lexemes:
        return []
    weights = {lexeme: idf(stats.rows, df[lexeme]) for lexeme in lexemes}
    model = SessionEvent if table == "events" else AgentSession
    keys = EVENT_KEYS if table == "events" else SESSION_KEYS
    # With the query's vector, each row's cosine comes with it (`cosines` need not be asked after).
    columns = (*keys, *_extra_columns(model, extras, cosine=True))
    plan = plan_candidates(df, candidate_budget(limit))
    rows = await _bm25(
        db, model, columns, lexemes, weights, stats, plan, limit=limit, filters=filters, params=_params(extras)
    )
    with_cosine = extras.vector is not None
    return [
        Candidate(
            row=r,
            cosine=optional_float(r.cosine) if with_cosine else None,
            bm25=float(r.bm25),
            all_terms=int(r.matched) >= len(lexemes),
            names_value=_names_value(model, extras, r),
        )
        for r in rows
    ]


async def cosines(
    db: DB, table: str, ids: list[uuid.UUID], extras: Extras
) -> dict[uuid.UUID, tuple[float | None, float | None]]:
    """Cosine to the query (`extras.vector`) of these rows, and of their sessions for events with
    `extras.session_cosine`: (cosine, session cosine), None where there is no vector of the model."""
    if not ids or extras.vector is None:
        return {}
    model = SessionEvent if table == "events" else AgentSession
    columns = _extra_columns(model, dataclasses.replace(extras, neighbours=False, query_text=None), cosine=True)
    out: dict[uuid.UUID, tuple[float | None, float | None]] = {}
    for row in (await db.execute(_by_ids(model, (model.id, *columns)), {**_params(extras), "ids": ids})).all():
        session = row.session_cosine if extras.session_cosine and model is SessionEvent else None
        out[row.id] = (optional_float(row.cosine), optional_float(session))
    return out


@functools.cache
def _by_ids(model: Any, columns: tuple[Any, ...]) -> Any:
    """`columns` of the rows `ids` (a bind parameter), events joined to their session when a column is
    the session's (`EVENT_COLUMNS`: the agent)."""
    stmt = select(*columns).where(model.id == any_(_IDS))
    if columns is EVENT_COLUMNS:
        return stmt.join(AgentSession, AgentSession.id == SessionEvent.session_id)
    return stmt


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


async def sessions_by_id(db: DB, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Full session rows (the results of a search)."""
    if not ids:
        return {}
    return {row.id: row for row in (await db.execute(_by_ids(AgentSession, SESSION_COLUMNS), {"ids": ids})).all()}


async def events_by_id(db: DB, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Full event rows with their session's agent (the results of a search)."""
    if not ids:
        return {}
    return {row.id: row for row in (await db.execute(_by_ids(SessionEvent, EVENT_COLUMNS), {"ids": ids})).all()}
