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
more before the division. Last, an event draws on the better of its two neighbours in
the session (the events just before and after it, when they are candidates too), since the answer
to a question often sits next to the words that match it. A neighbour only lifts: an event whose
neighbours score less than it keeps its own score, so a strong match with no match beside it (an
error logged between unrelated events) is not pushed down, and a lifted event never passes the
neighbour that lifted it:

    final event score = max(score, (score + NEIGHBOUR_WEIGHT * best neighbour score) / (1 + NEIGHBOUR_WEIGHT))

The weights were chosen on the LoCoMo development split
(bench/locomo_tune.py, docs/SEARCH.md): a weighted sum of max-normalised scores against reciprocal
rank fusion, which ignores how far ahead the best match is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KEYWORD_WEIGHT = 0.6
SESSION_WEIGHT = 0.5
EVENTS_WEIGHT = 1.0
TIME_BONUS = 0.3
NEIGHBOUR_WEIGHT = 1.0


@dataclass(frozen=True)
class Weights:
    keyword: float = KEYWORD_WEIGHT
    session: float = SESSION_WEIGHT
    events: float = EVENTS_WEIGHT
    time: float = TIME_BONUS
    neighbour: float = NEIGHBOUR_WEIGHT
    rrf_k: float = 0.0  # > 0: reciprocal rank fusion with this k instead of the weighted sum


DEFAULT_WEIGHTS = Weights()


def best(values: Iterable[float]) -> float:
    return max((v for v in values), default=0.0)


def match(similarity: float, bm25: float, best_bm25: float, weights: Weights = DEFAULT_WEIGHTS) -> float:
    """One row's own match, 0..1: similarity and max-normalised BM25 mixed."""
    keyword = bm25 / best_bm25 if best_bm25 > 0 else 0.0
    return (1.0 - weights.keyword) * similarity + weights.keyword * keyword


def with_evidence(own: float, evidence: float, weight: float, in_window: bool, time_bonus: float) -> float:
    """A row's score, 0..1: its own match, plus `weight` x the evidence of its session (for an
    event) or of its best events (for a session), plus the time bonus."""
    total = own + weight * evidence + (time_bonus if in_window else 0.0)
    return total / (1.0 + weight + time_bonus)


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


def with_neighbours(score: float, neighbour_scores: Iterable[float], weight: float) -> float:
    """An event's score, 0..1, lifted towards the better of its neighbours' scores (none: 0) when
    that is higher; never lowered, and never above that neighbour's score."""
    return max(score, (score + weight * best(neighbour_scores)) / (1.0 + weight))
