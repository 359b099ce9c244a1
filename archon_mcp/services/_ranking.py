"""How hybrid search orders its candidates: pure functions over the numbers the database returned.

Every candidate has a calibrated cosine `similarity` (0..1) and a raw BM25 score (0 when it is not a
keyword match). Within one query the BM25 scores are divided by the best one, so both signals are
on 0..1, and mixed:

    match = (1 - KEYWORD_WEIGHT) * similarity + KEYWORD_WEIGHT * bm25 / best_bm25

An event's score then draws on its session (summary and metadata matched the same way), and a
session's on its best events:

    event score   = (match + SESSION_WEIGHT * session match) / (1 + SESSION_WEIGHT)
    session score = (match + EVENTS_WEIGHT * best event match) / (1 + EVENTS_WEIGHT)

and a row whose time falls in a window the query names ("last week", "in March") gets TIME_BONUS
more before the division; in hybrid mode an event that holds every query term gets ALL_TERMS_BONUS
more (the divisor grows by it too, so scores stay on 0..1): BM25 divided by the query's best score
cannot tell a row that has all the words from one that has the rarest word only. An event one of
whose short values the query names as a whole (`{"speaker": "Caroline"}` for "what did Caroline
buy?", `{"file": "auth.py"}` for "errors in auth.py": `named_values`, migration 0006) gets
NAMED_VALUE_BONUS more in hybrid mode: a name is a common word of its store, so BM25 weighs it
little, yet the rows whose field holds it are what the query is about, not the rows that mention it
in passing.

Last, an event draws on its neighbours in the session, since the answer to a question often sits
next to (or one turn beyond) the words that match it: the events just before and after it, when
they are candidates too, and through each of those the next event further out, counted at
FAR_NEIGHBOUR x its score. A neighbour only lifts: an event whose neighbours score less than it
keeps its own score, so a strong match with no match beside it (an error logged between unrelated
events) is not pushed down, and a lifted event never passes the neighbour that lifted it:

    around            = neighbours' scores + FAR_NEIGHBOUR x the scores of their other neighbours
    final event score = max(score, (score + NEIGHBOUR_WEIGHT * best(around)) / (1 + NEIGHBOUR_WEIGHT))

The weights were chosen on the LoCoMo development split
(bench/locomo_tune.py, docs/SEARCH.md): a weighted sum of max-normalised scores against reciprocal
rank fusion, which ignores how far ahead the best match is. ALL_TERMS_BONUS and FAR_NEIGHBOUR
(2026-12-01, late evening) by re-ranking the same candidate pools of the development split (both
settings) and of bench/eval's event queries (events recall@10, one store / one conversation per
store / bench/eval): the far neighbours at 0.9 +0.004 / +0.003 / +0.000, the bonus +0.000 / +0.000
/ +0.011 (bench/eval MRR +0.027), both +0.004 / +0.004 / +0.011. FAR_NEIGHBOUR 0.85-0.95 with a
bonus of 0.05-0.2 score alike; at 0.8 the gain is +0.003 / +0.001, so it is a narrow one.
NAMED_VALUE_BONUS (2026-12-02) the same way: 0.15 gave +0.012 / +0.009 events recall@10 on the
development split (0.1 and 0.2 within 0.004 of it, 0.05 and 0.3 less) and bench/eval recall@5
+0.006 (docs/SEARCH.md, "Named values").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KEYWORD_WEIGHT = 0.6
SESSION_WEIGHT = 0.5
EVENTS_WEIGHT = 1.0
TIME_BONUS = 0.3
NEIGHBOUR_WEIGHT = 1.0
ALL_TERMS_BONUS = 0.1
FAR_NEIGHBOUR = 0.9
NAMED_VALUE_BONUS = 0.15


@dataclass(frozen=True)
class Weights:
    keyword: float = KEYWORD_WEIGHT
    session: float = SESSION_WEIGHT
    events: float = EVENTS_WEIGHT
    time: float = TIME_BONUS
    neighbour: float = NEIGHBOUR_WEIGHT
    all_terms: float = ALL_TERMS_BONUS  # events, hybrid mode
    far_neighbour: float = FAR_NEIGHBOUR
    named_value: float = NAMED_VALUE_BONUS  # events, hybrid mode
    rrf_k: float = 0.0  # > 0: reciprocal rank fusion with this k instead of the weighted sum


DEFAULT_WEIGHTS = Weights()


def best(values: Iterable[float]) -> float:
    return max((v for v in values), default=0.0)


def match(similarity: float, bm25: float, best_bm25: float, weights: Weights = DEFAULT_WEIGHTS) -> float:
    """One row's own match, 0..1: similarity and max-normalised BM25 mixed."""
    keyword = bm25 / best_bm25 if best_bm25 > 0 else 0.0
    return (1.0 - weights.keyword) * similarity + weights.keyword * keyword


def with_evidence(own: float, evidence: float, weight: float, bonuses: Iterable[tuple[bool, float]] = ()) -> float:
    """A row's score, 0..1: its own match, plus `weight` x the evidence of its session (for an
    event) or of its best events (for a session), plus each bonus `(applies, size)` that applies
    (the time window, all terms, a named value). Every bonus of the search widens the divisor,
    whether it applies or not, so the scores of one search stay comparable and within 0..1."""
    total, room = own + weight * evidence, 1.0 + weight
    for applies, size in bonuses:
        room += size
        total += size if applies else 0.0
    return total / room


def rrf_match(similarity_rank: int | None, keyword_rank: int | None, weights: Weights) -> float:
    """Reciprocal rank fusion of the two rankings (0 = first), weighted like `match`, scaled so
    that a row first in both scores 1."""
    k = weights.rrf_k
    total = 0.0
    if similarity_rank is not None:
        total += (1.0 - weights.keyword) / (k + 1 + similarity_rank)
    if keyword_rank is not None:
        total += weights.keyword / (k + 1 + keyword_rank)
    return total * (k + 1)


def neighbour_scores(
    event: Any, scores: Mapping[Any, float], neighbours: Mapping[Any, tuple[Any, Any]], far: float
) -> list[float]:
    """What an event's neighbour evidence draws on: the scores of its neighbours (the events just
    before and after it) that are results too, and through each of them the score of the next
    event further out, times `far` (0: none). `neighbours` maps an event to (previous, next)."""
    out: list[float] = []
    for near in neighbours.get(event, ()):
        if near is None or near not in scores:
            continue
        out.append(scores[near])
        if far > 0:
            out.extend(
                far * scores[beyond] for beyond in neighbours.get(near, ()) if beyond != event and beyond in scores
            )
    return out


def with_neighbours(score: float, neighbour_scores: Iterable[float], weight: float) -> float:
    """An event's score, 0..1, lifted towards the better of its neighbours' scores (none: 0) when
    that is higher; never lowered, and never above that neighbour's score."""
    return max(score, (score + weight * best(neighbour_scores)) / (1.0 + weight))
