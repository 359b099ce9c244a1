"""Operations on the whole store: statistics, and re-embedding after a model change."""

from __future__ import annotations

from collections.abc import Callable

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import Embedder
from archon_mcp.repositories import embeddings as queue
from archon_mcp.schemas import StoreStats
from archon_mcp.services.embedding_worker import EmbeddingWorker


async def store_stats(database: Database, embedder: Embedder, worker: EmbeddingWorker | None = None) -> StoreStats:
    async with database.session() as db:
        counts = await queue.stats(db)
    stored = await database.stored_embedding_config()
    return StoreStats(
        sessions=counts["sessions"],
        active_sessions=counts["active_sessions"],
        events=counts["events"],
        pending_sessions=counts["pending_sessions"],
        pending_events=counts["pending_events"],
        failing_embeddings=counts["failing"],
        last_embedding_error=(worker.last_error if worker else None) or counts["last_event_error"],
        embedding_provider=embedder.provider,
        embedding_model=embedder.model,
        embedding_dimensions=embedder.dimensions,
        embedding_runtime=getattr(embedder, "runtime_in_use", None),
        stored_embedding_model=stored.model if stored else None,
        stored_embedding_dimensions=stored.dimensions if stored else None,
    )


async def prepare_reembed(database: Database, settings: Settings, *, everything: bool) -> str:
    """Switch the store to the configured model (retyping vectors if the size changed) and queue
    rows. Idempotent: an interrupted run is resumed by running it again. Returns what was done."""
    stored = await database.stored_embedding_config()
    model = settings.resolved_embedding_model
    dims = settings.resolved_embedding_dimensions
    switched = stored is None or stored.model != model or stored.dimensions != dims
    async with database.session() as db, db.begin():
        if switched:
            if stored is None or stored.dimensions != dims:
                await queue.retype_vectors(db, dims)
            await queue.record_model(db, settings.embedding_provider, model, dims)
        if switched or everything:
            await queue.mark_all_pending(db)
        else:
            await queue.release_leases(db)
    if switched:
        old = f"{stored.model} ({stored.dimensions}d)" if stored else "nothing"
        return f"switched from {old} to {model} ({dims}d); re-embedding everything"
    return "re-embedding everything" if everything else "embedding pending rows"


async def embed_until_done(
    database: Database, worker: EmbeddingWorker, on_progress: Callable[[int, int], None]
) -> tuple[int, int]:
    """Run the worker in the foreground until no row is due. Returns (embedded, still pending)."""
    done = 0
    while True:
        handled = await worker.run_once()
        async with database.session() as db:
            pending = await queue.pending_counts(db)
        remaining = pending["sessions"] + pending["events"]
        done += handled
        on_progress(done, remaining)
        if handled == 0:
            return done, remaining
