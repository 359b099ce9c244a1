"""BM25's candidate plan and IDF, and the fusion of hybrid search (pure logic, no database)."""

import math
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from archon_mcp.repositories.search import CANDIDATE_BUDGET, candidate_budget, fill_tiers, idf, plan_candidates
from archon_mcp.services._ranking import (
    Weights,
    match,
    neighbour_scores,
    rrf_match,
    with_evidence,
    with_neighbours,
)
from archon_mcp.services.search import EventPool, Hit, SearchService


def test_rare_lexemes_are_taken_whole_while_they_fit_the_budget() -> None:
    rare, following, limit = plan_candidates({"pottery": 3, "caroline": 900, "the": 5000, "lgbtq": 40}, budget=1000)
    assert rare == ["pottery", "lgbtq", "caroline"]  # 943 rows: all of them ranked
    assert (following, limit) == ("the", 57)  # the rest of the budget from the next rarest


def test_every_lexeme_fits_when_all_are_rare() -> None:
    assert plan_candidates({"a": 1, "b": 2}, budget=10) == (["a", "b"], None, 0)


def test_a_query_of_common_words_only_takes_part_of_the_rarest() -> None:
    assert plan_candidates({"error": 40_000, "deploy": 9_000}, budget=1000) == ([], "deploy", 1000)


def test_the_budget_grows_with_the_rows_asked_for() -> None:
    assert candidate_budget(10) == candidate_budget(100) == CANDIDATE_BUDGET == 500
    assert candidate_budget(400) == 2000  # a search for 100 results asks each list for 400


def test_idf_weighs_rare_terms_more_and_is_never_negative() -> None:
    rows = 100_000
    assert idf(rows, 3) > idf(rows, 900) > idf(rows, 50_000) > 0
    assert idf(rows, rows) > 0  # a term in every row still counts a little (Lucene's form)
    assert math.isclose(idf(10, 0), math.log(1 + 10.5 / 0.5))


def test_match_mixes_similarity_and_normalised_bm25() -> None:
    w = Weights(keyword=0.6)
    assert math.isclose(match(0.5, 10.0, 10.0, w), 0.4 * 0.5 + 0.6 * 1.0)
    assert math.isclose(match(0.5, 0.0, 10.0, w), 0.4 * 0.5)
    assert match(0.9, 5.0, 0.0, w) == 0.4 * 0.9  # no keyword match in the whole list


def test_evidence_and_time_lift_a_row_but_keep_scores_within_0_and_1() -> None:
    alone = with_evidence(0.6, 0.0, 0.5)
    supported = with_evidence(0.6, 1.0, 0.5)
    in_window = with_evidence(0.6, 0.0, 0.5, [(True, 0.3)])
    assert alone < supported <= 1.0
    assert with_evidence(0.6, 0.0, 0.5, [(False, 0.3)]) < in_window
    assert with_evidence(1.0, 1.0, 0.5, [(True, 0.3)]) == 1.0


def test_holding_every_query_term_lifts_an_event_and_scores_stay_within_0_and_1() -> None:
    some = with_evidence(0.7, 0.5, 0.5, [(False, 0.0), (False, 0.1)])
    every = with_evidence(0.7, 0.5, 0.5, [(False, 0.0), (True, 0.1)])
    assert some < every < 1.0
    assert math.isclose(every - some, 0.1 / 1.6)
    assert with_evidence(1.0, 1.0, 0.5, [(True, 0.3), (True, 0.1)]) == 1.0
    assert with_evidence(0.7, 0.5, 0.5, [(True, 0.0)]) == with_evidence(0.7, 0.5, 0.5)


def test_every_bonus_widens_the_divisor_whether_it_applies_or_not() -> None:
    """A search that can give the named-value bonus scores a row without it lower than a search that
    cannot, and a row with every bonus scores 1 at most."""
    bonuses = [(False, 0.3), (True, 0.1), (False, 0.15)]
    assert math.isclose(with_evidence(0.7, 0.5, 0.5, bonuses), (0.7 + 0.25 + 0.1) / (1.5 + 0.55))
    assert with_evidence(0.7, 0.5, 0.5, bonuses) < with_evidence(0.7, 0.5, 0.5, bonuses[:2])
    assert with_evidence(1.0, 1.0, 0.5, [(True, 0.3), (True, 0.1), (True, 0.15)]) == 1.0


def test_reciprocal_rank_fusion_scores_first_in_both_as_one() -> None:
    w = Weights(keyword=0.5, rrf_k=10)
    assert math.isclose(rrf_match(0, 0, w), 1.0)
    assert rrf_match(0, None, w) > rrf_match(5, None, w) > rrf_match(None, None, w) == 0.0


def test_the_better_neighbour_lifts_an_event_and_scores_stay_within_0_and_1() -> None:
    assert with_neighbours(0.4, [0.9, 0.1], 1.0) > with_neighbours(0.4, [0.6], 1.0) > 0.4
    assert math.isclose(with_neighbours(0.4, [0.9, 0.1], 1.0), 0.65)  # halfway to the better one
    assert math.isclose(with_neighbours(0.4, [], 0.0), 0.4)  # weight 0: the score as it was
    assert math.isclose(with_neighbours(1.0, [1.0], 1.0), 1.0)
    assert math.isclose(with_neighbours(0.0, [], 1.0), 0.0)


def test_a_neighbour_never_lowers_an_event_nor_lifts_it_past_itself() -> None:
    """A strong match with weak or no neighbours keeps its score (it is not pushed below events
    that merely sit next to each other), and a lifted event stays below its lifting neighbour."""
    assert with_neighbours(0.8, [], 1.0) == 0.8
    assert with_neighbours(0.8, [0.2, 0.1], 1.0) == 0.8
    for weight in (0.3, 1.0, 5.0):
        assert 0.3 < with_neighbours(0.3, [0.9], weight) < 0.9


def test_neighbour_scores_reach_one_event_further_through_a_neighbour_that_is_a_result() -> None:
    """a-b-c-d-e in a session: c draws on b and d, and through them on a and e at `far` x theirs;
    an event is never its own far neighbour, and a neighbour that is not a result (below the
    threshold, not a candidate) is not a path."""
    neighbours = {"a": (None, "b"), "b": ("a", "c"), "c": ("b", "d"), "d": ("c", "e"), "e": ("d", None)}
    scores = {"a": 0.9, "b": 0.2, "c": 0.3, "d": 0.4, "e": 0.1}
    assert sorted(neighbour_scores("c", scores, neighbours, 0.5)) == sorted([0.2, 0.4, 0.45, 0.05])
    assert sorted(neighbour_scores("c", scores, neighbours, 0.0)) == [0.2, 0.4]  # far 0: next ones only
    assert neighbour_scores("a", scores, neighbours, 1.0) == [0.2, 0.3]  # not a itself through b
    without_b = {k: v for k, v in scores.items() if k != "b"}
    assert neighbour_scores("c", without_b, neighbours, 1.0) == [0.4, 0.1]  # a is out of reach
    assert neighbour_scores("x", scores, neighbours, 1.0) == []
    # the lift never passes the event it came from, near or far
    assert 0.3 < with_neighbours(0.3, neighbour_scores("c", scores, neighbours, 0.9), 1.0) < 0.81


def test_an_isolated_strong_match_outranks_a_pair_of_weaker_neighbours() -> None:
    """Service-level ordering over a hand-made pool (no database): 'alone' matches best but has no
    candidate neighbour; 'a' and 'b' are neighbours that match less. The pair is lifted towards
    each other, never above 'alone'."""
    service = SearchService.__new__(SearchService)
    service._embedder = SimpleNamespace(model="no-calibration")
    session = uuid.uuid4()
    now = datetime(2026, 12, 1, tzinfo=UTC)

    def hit(name: str, cosine: float) -> Hit:
        row = SimpleNamespace(id=name, session_id=session, timestamp=now)
        return Hit(row=row, cosine=cosine)

    events = {"alone": hit("alone", 0.9), "a": hit("a", 0.8), "b": hit("b", 0.5)}
    pool = EventPool("hybrid", 0.0, 10, None, events, {}, neighbours={"a": (None, "b"), "b": ("a", None)})
    ranked = service.rank_events(pool, Weights(keyword=0.0, all_terms=0.0, named_value=0.0))
    assert [h.row.id for h in ranked] == ["alone", "a", "b"], [(h.row.id, h.score) for h in ranked]
    assert math.isclose(ranked[0].score, 0.9) and math.isclose(ranked[1].score, 0.8)
    assert math.isclose(ranked[2].score, 0.65)  # (0.5 + 0.8) / 2


def test_the_rest_of_the_budget_goes_first_to_rows_with_the_most_query_terms() -> None:
    """When the next rarest lexeme's rows no longer fit, its rows that also hold the query's other
    common lexemes come first, and no tier repeats a row of an earlier one."""
    assert fill_tiers(["pottery"], "deploy", ["deploy", "rollback", "pottery", "error"]) == [
        "(deploy & rollback & error) & !(pottery)",
        "(deploy & (rollback | error)) & !(pottery) & !(deploy & rollback & error)",
        "(deploy) & !(pottery) & !(deploy & rollback & error) & !(deploy & (rollback | error))",
    ]
    assert fill_tiers([], "deploy", ["deploy", "rollback"]) == [
        "(deploy & rollback)",
        "(deploy) & !(deploy & rollback)",
    ]
    assert fill_tiers(["x"], "deploy", ["x", "deploy"]) == ["(deploy) & !(x)"]


def test_the_all_terms_bonus_and_far_neighbours_in_the_ranking_of_events() -> None:
    """Service-level (no database): 'every' holds all query terms and passes 'most', which matches a
    little better but lacks a term; 'answer' sits two events after 'match' (with 'filler' between,
    a result too) and is lifted by it through 'filler'. In keyword mode there is no bonus."""
    service = SearchService.__new__(SearchService)
    service._embedder = SimpleNamespace(model="no-calibration")
    session = uuid.uuid4()
    now = datetime(2026, 12, 1, tzinfo=UTC)

    def hit(name: str, cosine: float, all_terms: bool = False) -> Hit:
        return Hit(row=SimpleNamespace(id=name, session_id=session, timestamp=now), cosine=cosine,
                   all_terms=all_terms)  # fmt: skip

    events = {
        "most": hit("most", 0.62),
        "every": hit("every", 0.6, all_terms=True),
        "match": hit("match", 0.9),
        "filler": hit("filler", 0.05),
        "answer": hit("answer", 0.3),
        "other": hit("other", 0.5),
    }
    neighbours = {"match": (None, "filler"), "filler": ("match", "answer"), "answer": ("filler", None)}
    pool = EventPool("hybrid", 0.0, 10, None, events, {}, neighbours=neighbours)
    order = [h.row.id for h in service.rank_events(pool, Weights(keyword=0.0, all_terms=0.1, far_neighbour=0.9))]
    assert order.index("every") < order.index("most")
    assert order.index("answer") < order.index("other")  # (0.3 + 0.9 x 0.9) / 2 / 1.1 > 0.5 / 1.1
    order = [h.row.id for h in service.rank_events(pool, Weights(keyword=0.0, all_terms=0.0, far_neighbour=0.0))]
    assert order.index("most") < order.index("every")
    assert order.index("other") < order.index("answer")
    keyword_pool = EventPool("keyword", 0.0, 10, None, events, {})
    for e in events.values():
        e.bm25 = e.cosine or 0.0
    order = [h.row.id for h in service.rank_events(keyword_pool, Weights(all_terms=0.1))]
    assert order.index("most") < order.index("every")  # keyword mode orders by BM25 alone


def test_an_event_whose_value_the_query_names_passes_one_that_mentions_it_in_passing() -> None:
    """Service-level (no database): 'spoken' is by the person the query names (its `names_value`),
    'mention' says the name in its text and matches a little better; in hybrid mode the bonus puts
    'spoken' first, at 0 it does not, and keyword mode orders by BM25 alone."""
    service = SearchService.__new__(SearchService)
    service._embedder = SimpleNamespace(model="no-calibration")
    session = uuid.uuid4()
    now = datetime(2026, 12, 2, tzinfo=UTC)

    def hit(name: str, cosine: float, named: bool = False) -> Hit:
        row = SimpleNamespace(id=name, session_id=session, timestamp=now)
        return Hit(row=row, cosine=cosine, bm25=cosine, names_value=named)

    events = {"mention": hit("mention", 0.62), "spoken": hit("spoken", 0.6, named=True), "other": hit("other", 0.3)}
    pool = EventPool("hybrid", 0.0, 10, None, events, {})
    order = [h.row.id for h in service.rank_events(pool, Weights(named_value=0.15))]
    assert order == ["spoken", "mention", "other"]
    assert all(0.0 <= h.score <= 1.0 for h in events.values())
    order = [h.row.id for h in service.rank_events(pool, Weights(named_value=0.0))]
    assert order == ["mention", "spoken", "other"]
    keyword_pool = EventPool("keyword", 0.0, 10, None, events, {})
    order = [h.row.id for h in service.rank_events(keyword_pool, Weights(named_value=0.15))]
    assert order == ["mention", "spoken", "other"]
