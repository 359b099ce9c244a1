"""Activity over time and the session browser's list (the usage guide's Workflow 5).

Everything else the REST API offers goes through SessionService and SearchService."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.errors import InvalidInputError
from archon_mcp.repositories import activity as activity_repo
from archon_mcp.schemas import SessionWithCount, UtcDatetime
from archon_mcp.services import _validation as v
from archon_mcp.services._convert import session_with_count

_STATUSES = ("active", "ended")


class ActivityPoint(BaseModel):
    date: dt.date = Field(description="UTC day, YYYY-MM-DD.")
    agent: str
    sessions: int = Field(description="Sessions the agent started that day.")
    events: int = Field(description="Events logged that day in the agent's sessions.")


class AgentTotals(BaseModel):
    agent: str
    sessions: int
    events: int


class ActivityReport(BaseModel):
    """Sessions and events per UTC day per agent over the last `days` days (today included)."""

    days: int
    since: UtcDatetime = Field(description="Start of the first day (inclusive).")
    until: UtcDatetime = Field(description="End of today (exclusive).")
    dates: list[dt.date] = Field(description="Every day of the window, oldest first, including days without activity.")
    points: list[ActivityPoint] = Field(description="Only (day, agent) pairs with some activity, oldest first.")
    agents: list[AgentTotals] = Field(description="Totals per agent over the window, most active first.")
    total_sessions: int
    total_events: int


class SessionBrowsePage(BaseModel):
    sessions: list[SessionWithCount]
    total: int = Field(description="Sessions matching the filters in all.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; null on the last page.")


class ActivityService:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._db = database
        self._settings = settings

    def _agent(self, value: Any) -> str | None:
        return v.check_agent(value, self._settings) if value is not None and value != "" else None

    async def activity(self, days: Any = 30, agent: Any = None, project_id: Any = None) -> ActivityReport:
        n_days = v.check_int(days, "days", 1, min(self._settings.max_days, 366))
        agent_name = self._agent(agent)
        project = v.parse_optional_uuid(project_id, "project_id")
        today = datetime.now(UTC).date()
        first = today - timedelta(days=n_days - 1)
        since = datetime.combine(first, time(), tzinfo=UTC)
        until = datetime.combine(today + timedelta(days=1), time(), tzinfo=UTC)
        filters = {"since": since, "until": until, "agent": agent_name, "project_id": project}
        async with self._db.session() as db:
            sessions = await activity_repo.sessions_per_day(db, **filters)
            events = await activity_repo.events_per_day(db, **filters)
        cells: dict[tuple[dt.date, str], list[int]] = {}
        for day, name, n in sessions:
            cells.setdefault((day, name), [0, 0])[0] = n
        for day, name, n in events:
            cells.setdefault((day, name), [0, 0])[1] = n
        points = [
            ActivityPoint(date=day, agent=name, sessions=s, events=e) for (day, name), (s, e) in sorted(cells.items())
        ]
        totals: dict[str, list[int]] = {}
        for p in points:
            t = totals.setdefault(p.agent, [0, 0])
            t[0] += p.sessions
            t[1] += p.events
        agents = sorted(
            (AgentTotals(agent=a, sessions=s, events=e) for a, (s, e) in totals.items()),
            key=lambda t: (-(t.sessions + t.events), t.agent),
        )
        return ActivityReport(
            days=n_days,
            since=since,
            until=until,
            dates=[first + timedelta(days=i) for i in range(n_days)],
            points=points,
            agents=agents,
            total_sessions=sum(t.sessions for t in agents),
            total_events=sum(t.events for t in agents),
        )

    async def browse_sessions(
        self,
        agent: Any = None,
        project_id: Any = None,
        since: Any = None,
        until: Any = None,
        status: Any = None,
        limit: Any = 20,
        offset: Any = 0,
    ) -> SessionBrowsePage:
        """Sessions newest first with their event counts; `status` is active, ended, or None for both."""
        if status is not None and status not in _STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(_STATUSES)} (or omitted for both)")
        filters = {
            "agent": self._agent(agent),
            "project_id": v.parse_optional_uuid(project_id, "project_id"),
            "since": v.parse_datetime(since, "since"),
            "until": v.parse_datetime(until, "until"),
            "status": status,
        }
        lim = v.check_int(limit, "limit", 1, self._settings.max_page_size)
        off = v.check_int(offset, "offset", 0, 10_000_000)
        async with self._db.session() as db:
            rows, total = await activity_repo.browse_sessions(db, limit=lim, offset=off, **filters)
        sessions = [session_with_count(row, n) for row, n in rows]
        nxt = off + len(sessions) if off + len(sessions) < total else None
        return SessionBrowsePage(sessions=sessions, total=total, limit=lim, offset=off, next_offset=nxt)

    async def projects(self, limit: int = 200) -> list[str]:
        async with self._db.session() as db:
            return [str(p) for p in await activity_repo.distinct_projects(db, limit=limit)]
