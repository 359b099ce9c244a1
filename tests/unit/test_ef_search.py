"""The HNSW candidate list grows with the table (repositories/search.ef_search_for)."""

from __future__ import annotations

import pytest

from archon_mcp.repositories.search import EF_SEARCH_MAX, ef_search_for


@pytest.mark.parametrize(
    ("limit", "rows", "expected"),
    [
        (100, 0, 400),  # a search asks for >= 100 neighbours: 4x that
        (100, 1_000, 400),
        (100, 100_000, 400),
        (100, 1_000_000, 400),  # 0.962 recall@10 at 1M (scale_1m.json)
        (100, 10_000_000, 800),  # twice per tenfold rows
        (100, 1_000_000_000, EF_SEARCH_MAX),
        (10, 10_000, 200),
        (10, 1_000_000, 400),
        (400, 1_000, EF_SEARCH_MAX),  # pgvector's largest
    ],
)
def test_the_candidate_list_doubles_per_tenfold_rows(limit: int, rows: float, expected: int) -> None:
    assert ef_search_for(limit, rows) == expected


def test_it_never_shrinks_as_the_table_grows() -> None:
    sizes = [10**k for k in range(2, 10)]
    lists = [ef_search_for(100, rows) for rows in sizes]
    assert lists == sorted(lists)
