"""Time named in a search query, with a fixed clock (pure logic, no database)."""

from datetime import UTC, datetime

import pytest

from archon_mcp.services._when import query_window

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)  # a Tuesday


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "window"),
    [
        ("errors yesterday", (day(2026, 11, 30), day(2026, 12, 1))),
        ("what did I do today", (day(2026, 12, 1), day(2026, 12, 2))),
        ("what happened last week", (day(2026, 11, 23), day(2026, 11, 30))),
        ("deploys this week", (day(2026, 11, 30), day(2026, 12, 7))),
        ("migration errors last month", (day(2026, 11, 1), day(2026, 12, 1))),
        ("this month", (day(2026, 12, 1), day(2027, 1, 1))),
        ("the outage in March", (day(2026, 3, 1), day(2026, 4, 1))),
        ("the outage in December 2025", (day(2025, 12, 1), day(2026, 1, 1))),
        ("what broke on 2026-11-03", (day(2026, 11, 3), day(2026, 11, 4))),
        ("the release on 8 May, 2023", (day(2023, 5, 8), day(2023, 5, 9))),
        ("the release on March 3rd", (day(2026, 3, 3), day(2026, 3, 4))),
        ("3 days ago", (day(2026, 11, 28), day(2026, 11, 29))),
        ("on friday", (day(2026, 11, 27), day(2026, 11, 28))),
        ("last year", (day(2025, 1, 1), day(2026, 1, 1))),
    ],
)
def test_named_times_become_windows(query: str, window: tuple[datetime, datetime]) -> None:
    assert query_window(query, NOW) == window, query


def test_last_n_days_ends_now() -> None:
    assert query_window("errors in the past 7 days", NOW) == (datetime(2026, 11, 24, 10, 30, tzinfo=UTC), NOW)


def test_a_month_not_yet_reached_this_year_is_last_years() -> None:
    assert query_window("what did we ship in December", datetime(2026, 6, 1, tzinfo=UTC)) == (
        day(2025, 12, 1),
        day(2026, 1, 1),
    )


def test_last_month_in_january_is_last_december() -> None:
    assert query_window("last month", datetime(2027, 1, 15, tzinfo=UTC)) == (day(2026, 12, 1), day(2027, 1, 1))


@pytest.mark.parametrize(
    "query",
    ["database migration errors", "may the force be with you", "TASK-1482", "port 8765 in use", "2026-13-45"],
)
def test_queries_without_a_time_have_no_window(query: str) -> None:
    assert query_window(query, NOW) is None, query


def test_since_a_month_runs_until_now() -> None:
    assert query_window("errors since November", NOW) == (day(2026, 11, 1), NOW)
