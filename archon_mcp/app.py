"""The running application: database, embedder, worker and services, opened and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import Embedder, create_embedder
from archon_mcp.schemas import SessionOut
from archon_mcp.services.embedding_worker import EmbeddingWorker
from archon_mcp.services.projects import ProjectService
from archon_mcp.services.resume import ResumeService
from archon_mcp.services.search import SearchService
from archon_mcp.services.sessions import SessionService
from archon_mcp.services.stale import stale_sweeper
from archon_mcp.services.summaries import SummaryService

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """What every tool (and the REST API) gets: typed, built once per server process."""

    settings: Settings
    database: Database
    embedder: Embedder
    worker: EmbeddingWorker
    sessions: SessionService
    search: SearchService
    summaries: SummaryService
    resume: ResumeService
    projects: ProjectService


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    run_worker: bool = True,
    summarizer_http_client: Any = None,
) -> AsyncIterator[AppContext]:
    database = Database(settings)
    await database.start()
    embedder = embedder or create_embedder(settings)
    worker = EmbeddingWorker(database, embedder, settings)

    # SummaryService needs the SessionService and the SessionService's end hook needs the summaries:
    # the hook looks `summaries` up when a session ends, by then it exists.
    async def summarize_ended(ended: SessionOut) -> SessionOut:
        return await summaries.summarize_ended(ended)

    on_ended = summarize_ended if settings.summarize_on_end else None
    sessions = SessionService(database, settings, worker.notify, on_ended=on_ended)
    search = SearchService(database, embedder, worker if run_worker else None, settings)
    summaries = SummaryService(database, sessions, settings, http_client=summarizer_http_client)
    app = AppContext(
        settings=settings,
        database=database,
        embedder=embedder,
        worker=worker,
        sessions=sessions,
        search=search,
        summaries=summaries,
        resume=ResumeService(database, search, settings),
        projects=ProjectService(database),
    )
    task = asyncio.create_task(worker.run(), name="archon-embedding-worker") if run_worker else None
    # Background maintenance: sessions left active end by themselves (services/stale.py).
    sweeper = asyncio.create_task(stale_sweeper(database, settings, summaries), name="archon-stale-sweeper")
    try:
        yield app
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await summaries.aclose()
        if task is not None:
            await worker.stop(task, timeout=5.0)
        await embedder.aclose()
        await database.close()
