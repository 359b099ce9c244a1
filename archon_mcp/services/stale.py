"""Sessions that were never ended end by themselves: after ARCHON_STALE_SESSION_HOURS without events
a session is ended (at its last event), marked `ended_by: stale` and summarized in the background.

Run by a server's background maintenance (`stale_sweeper`, every ARCHON_STALE_CHECK_SECONDS) and by
the SessionStart hook, so the resume context a new session gets never shows an abandoned one as
current."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.services._convert import session_out
from archon_mcp.services.summaries import SummaryService

log = logging.getLogger(__name__)

BATCH = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def end_stale_sessions(
    database: Database,
    settings: Settings,
    summaries: SummaryService | None,
    *,
    clock: Callable[[], datetime] = _utcnow,
) -> list[str]:
    """End every stale session (in batches); each one with events gets a background summary.
    Returns the ids ended. `clock` is injectable so tests can move time."""
    now = clock()
    before = now - timedelta(hours=settings.stale_session_hours)
    ended: list[str] = []
    while True:
        async with database.session() as db, db.begin():
            rows = await sessions_repo.end_stale(db, before=before, now=now, limit=BATCH)
        for row in rows:
            ended.append(str(row.id))
            if summaries is not None and not row.summary:
                try:
                    await summaries.schedule(session_out(row))
                except Exception as exc:  # the session stays ended; a summary can be asked for later
                    log.warning("could not schedule the summary of stale session %s: %s", row.id, exc)
        if len(rows) < BATCH:
            break
    if ended:
        log.info("ended %d stale session(s) without events for %.1f h", len(ended), settings.stale_session_hours)
    return ended


async def stale_sweeper(database: Database, settings: Settings, summaries: SummaryService) -> None:
    """Forever: sleep ARCHON_STALE_CHECK_SECONDS, then sweep. A failed sweep is logged and retried.
    (Sleeping first: a server that starts does not race the client that started it, and the
    SessionStart hook sweeps at once anyway.)"""
    while True:
        await asyncio.sleep(settings.stale_check_seconds)
        try:
            await end_stale_sessions(database, settings, summaries)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("stale-session sweep failed: %s", exc)
