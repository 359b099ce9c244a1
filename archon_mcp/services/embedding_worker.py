"""Background embedding: rows are committed first, then embedded here in batches, with retries.

A write never waits for the embedding provider. Each pass leases a batch of due rows (so
several replicas share the queue), embeds them in one request, and stores the vectors. A
failure records the error and schedules the rows again with exponential backoff; nothing is
dropped. Rows written by other processes are found by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TypeVar

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import Embedder, event_text, session_text
from archon_mcp.models import AgentSession, SessionEvent
from archon_mcp.repositories import embeddings as queue

log = logging.getLogger(__name__)

# A claimed batch is leased for one embedding request (`embedding_timeout`) plus this margin.
# The lease is what a crashed server leaves behind: its rows become due again when it runs out,
# so keep it short. A batch that outlives its lease may be embedded twice, which is harmless.
LEASE_MARGIN_SECONDS = 10.0
POLL_SECONDS = 5.0
# How long a stopping worker tries to hand an abandoned batch back to the queue.
HAND_BACK_SECONDS = 0.5

T = TypeVar("T")


class _Abandoned(Exception):
    """The worker is stopping and left its embedding call unfinished."""


class EmbeddingWorker:
    def __init__(self, database: Database, embedder: Embedder, settings: Settings) -> None:
        self._db = database
        self._embedder = embedder
        self._settings = settings
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._generation = 0
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self.embedded_total = 0
        self.failed_total = 0
        self.last_error: str | None = None

    def notify(self) -> None:
        """Something was written that needs a vector: wake up, and stop counting as idle."""
        self._generation += 1
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until this worker has embedded everything due (read-your-writes for searches)."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def stop(self, task: asyncio.Task, timeout: float) -> None:
        """End the loop. A warm-up or an embedding request in flight is abandoned at once (its rows
        are handed back to the queue); a database step in flight is let finish (its transaction
        commits or rolls back on its own), and the task is cancelled only if that takes longer than
        `timeout`. Cancelling in the middle of a database call could leave a connection checked out
        and its row locks held."""
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
        except asyncio.CancelledError:
            task.cancel()
            raise
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _unless_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, or abandon it (raising `_Abandoned`) as soon as `stop()` is called.

        For calls into the embedder only: a model load or a batch on a CPU thread can take seconds,
        and nothing it does needs finishing (no transaction is open meanwhile). The thread runs on
        unobserved; the process exits without waiting for it."""
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stop_requested.wait())
        abandoned = False
        try:
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
                abandoned = True
        if abandoned:
            raise _Abandoned
        return work.result()

    async def run(self) -> None:
        try:
            await self._unless_stopped(self._embedder.warmup())
        except _Abandoned:
            return
        except Exception as exc:  # the queue below retries; a broken model must not kill the server
            log.warning("embedding model warm-up failed: %s", exc)
        while not self._stopping:
            generation = self._generation
            try:
                done = await self.run_once()
            except _Abandoned:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database blip: keep the worker alive
                log.warning("embedding pass failed: %s", exc)
                done = 0
                await asyncio.sleep(1.0)
            if done or self._stopping:
                continue
            if generation == self._generation:
                self._idle.set()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                if not self._stopping:
                    # Let a burst of writes land so they are embedded as one batch, not one by one.
                    await asyncio.sleep(self._settings.embedding_batch_delay)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """One batch of events and one of sessions. Returns how many rows were handled."""
        handled = 0
        for model in (SessionEvent, AgentSession):
            handled += await self._process(model)
        return handled

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        return await self._embedder.embed(texts, background=True) if texts else []

    async def _hand_back(self, model, rows: list[queue.PendingRow]) -> None:
        """Make an abandoned batch due again now, for another server (or the next start) to
        embed, instead of after its lease. Best effort, and quick: the process is stopping, and
        rows left leased are picked up when the lease runs out anyway."""
        try:
            async with asyncio.timeout(HAND_BACK_SECONDS):
                async with self._db.session() as db, db.begin():
                    await queue.release(db, model, rows)
        except Exception as exc:
            log.info("%d %s rows stay leased until their lease runs out: %s", len(rows), model.__tablename__, exc)

    def _text(self, model, row: queue.PendingRow) -> str:
        first, second, *rest = row.text_fields
        limit = self._settings.embedding_max_chars
        if model is AgentSession:
            return session_text(first, second, limit)
        context = rest[0] if rest and self._settings.embed_event_context else None
        return event_text(first, second or {}, limit, context=context)

    async def _process(self, model) -> int:
        async with self._db.session() as db, db.begin():
            lease = self._settings.embedding_timeout + LEASE_MARGIN_SECONDS
            rows = await queue.claim(db, model, limit=self._settings.embedding_batch_size, lease_seconds=lease)
        if not rows:
            return 0
        texts = [self._text(model, row) for row in rows]
        empty = [row for row, t in zip(rows, texts, strict=True) if not t]
        work = [(row, t) for row, t in zip(rows, texts, strict=True) if t]
        try:
            vectors = await self._unless_stopped(self._embed([t for _, t in work]))
        except _Abandoned:
            await self._hand_back(model, rows)
            raise
        except Exception as exc:
            self.failed_total += len(work)
            self.last_error = str(exc)
            log.warning("embedding %d %s rows failed, will retry: %s", len(work), model.__tablename__, exc)
            async with self._db.session() as db, db.begin():
                await queue.record_failure(
                    db, model, [r for r, _ in work], str(exc), self._settings.embedding_retry_max_delay
                )
                if empty:
                    await queue.mark_nothing_to_embed(db, model, empty)
            return len(rows)
        async with self._db.session() as db, db.begin():
            if work:
                await queue.store(db, model, [r for r, _ in work], vectors, self._embedder.model)
            if empty:
                await queue.mark_nothing_to_embed(db, model, empty)
        self.embedded_total += len(work)
        self.last_error = None
        return len(rows)
