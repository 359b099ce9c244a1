"""Time named in a search query: "yesterday", "last week", "in March", "on 2026-11-03".

`query_window(query, now)` finds the first such phrase and returns the UTC window it names
(start inclusive, end exclusive), or None. Search ranks rows inside the window higher when the
caller gave no `since`/`until` (services/search.py); the phrase itself stays in the query, so it
still counts as words. English only; weeks start on Monday; "last N days" and "since March" end now.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

Window = tuple[datetime, datetime]

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_RELATIVE = re.compile(r"\b(today|yesterday|tonight|this morning)\b")
_THIS_LAST = re.compile(r"\b(this|last|past|previous)\s+(week|month|year)\b")
_COUNT = r"(\d+|a|one|two|three|four|five|six|seven|ten)"
_LAST_N = re.compile(r"\b(?:last|past|previous)\s+" + _COUNT + r"\s+(days?|weeks?|months?)\b")
_AGO = re.compile(r"\b" + _COUNT + r"\s+(days?|weeks?)\s+ago\b")
_WEEKDAY = re.compile(r"\b(?:on\s+|last\s+)?(" + "|".join(WEEKDAYS) + r")\b")
_MONTH = re.compile(r"\b(in|during|since|from|of)\s+(" + _MONTH_NAMES + r")\b(?:\s+(\d{4}))?")
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + _MONTH_NAMES + r")\b(?:,?\s+(\d{4}))?")
_MONTH_DAY = re.compile(r"\b(" + _MONTH_NAMES + r")\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?")


def _day(d: date) -> Window:
    start = datetime.combine(d, time(), UTC)
    return start, start + timedelta(days=1)


def _month(year: int, month: int) -> Window:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word]


def _past_month(today: date, month: int, year: str | None) -> int:
    """A month named without a year is the latest one not in the future."""
    if year:
        return int(year)
    return today.year if month <= today.month else today.year - 1


def _valid_day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def query_window(query: str, now: datetime) -> Window | None:
    """The time window a query names, or None. `now` must be timezone-aware."""
    q = query.lower()
    today = now.astimezone(UTC).date()
    if m := _ISO_DATE.search(q):
        d = _valid_day(int(m[1]), int(m[2]), int(m[3]))
        if d is not None:
            return _day(d)
    if m := _RELATIVE.search(q):
        return _day(today - timedelta(days=1) if m[1] == "yesterday" else today)
    if m := _LAST_N.search(q):
        n, unit = _number(m[1]), m[2].rstrip("s")
        days = n * {"day": 1, "week": 7, "month": 30}[unit]
        return now - timedelta(days=days), now
    if m := _AGO.search(q):
        n, unit = _number(m[1]), m[2].rstrip("s")
        d = today - timedelta(days=n * (7 if unit == "week" else 1))
        return _day(d) if unit == "day" else (_day(d - timedelta(days=3))[0], _day(d + timedelta(days=3))[1])
    if m := _THIS_LAST.search(q):
        which, unit = m[1], m[2]
        last = which != "this"
        if unit == "week":
            monday = today - timedelta(days=today.weekday()) - timedelta(weeks=last)
            return _day(monday)[0], _day(monday + timedelta(days=6))[1]
        if unit == "month":
            year, month = (today.year, today.month) if not last else divmod(today.year * 12 + today.month - 2, 12)
            return _month(year, month + 1) if last else _month(year, month)
        year = today.year - last
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    for pattern, order in ((_DAY_MONTH, "dm"), (_MONTH_DAY, "md")):
        if m := pattern.search(q):
            day_text, month_text = (m[1], m[2]) if order == "dm" else (m[2], m[1])
            month = MONTHS[month_text]
            d = _valid_day(_past_month(today, month, m[3]), month, int(day_text))
            if d is not None:
                return _day(d)
    if m := _MONTH.search(q):
        month = MONTHS[m[2]]
        start, end = _month(_past_month(today, month, m[3]), month)
        return (start, now) if m[1] in ("since", "from") else (start, end)
    if m := _WEEKDAY.search(q):
        back = (today.weekday() - WEEKDAYS.index(m[1])) % 7 or 7
        return _day(today - timedelta(days=back))
    return None
