"""Activity over time (the usage guide's Workflow 5) and the projects seen, for the session browser.

Everything else the REST API offers goes through SessionService and SearchService."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime, time, timedelta

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.repositories import activity as activity_repo
from archon_mcp.schemas import ActivityPoint, ActivityReport, AgentTotals


class ActivityService:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._db = database
        self._settings = settings

    async def activity(
        self, *, days: int = 30, agent: str | None = None, project_id: uuid.UUID | None = None
    ) -> ActivityReport:
        n_days, agent_name, project = days, agent, project_id
        today = datetime.now(UTC).date()
        first = today - timedelta(days=n_days - 1)
        since = datetime.combine(first, time(), tzinfo=UTC)
        until = datetime.combine(today + timedelta(days=1), time(), tzinfo=UTC)
        async with self._db.session() as db:
            sessions = await activity_repo.sessions_per_day(
                db, since=since, until=until, agent=agent_name, project_id=project
            )
            events = await activity_repo.events_per_day(
                db, since=since, until=until, agent=agent_name, project_id=project
            )
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

    async def projects(self, limit: int = 200) -> list[str]:
        async with self._db.session() as db:
            return [str(p) for p in await activity_repo.distinct_projects(db, limit=limit)]
