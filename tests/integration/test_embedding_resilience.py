"""No write is lost to an embedding failure: rows are stored, stay pending and findable by keyword,
and are embedded once the provider recovers. Model changes are detected and `reembed` resumes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from archon_mcp.app import open_app
from archon_mcp.db import Database, to_asyncpg_url
from archon_mcp.embeddings import create_embedder
from archon_mcp.errors import EmbeddingModelMismatchError
from archon_mcp.server import build_server
from archon_mcp.services.embedding_worker import EmbeddingWorker
from archon_mcp.services.maintenance import embed_until_done, prepare_reembed, store_stats
from tests.fakes import FakeEmbeddingsServer
from tests.helpers import call, create_database, make_settings

pytestmark = pytest.mark.anyio

DIMS = 16


def openai_settings(url: str, model: str = "fake-embed-small", dims: int = DIMS, **extra):
    return make_settings(
        url,
        embedding_provider="openai",
        embedding_model=model,
        embedding_dimensions=dims,
        openai_base_url="http://fake-openai.test/v1",
        openai_api_key="sk-test",
        embedding_retry_max_delay=0.3,
        search_wait_for_pending=2.0,
        **extra,
    )


async def _wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


@pytest.fixture
async def openai_db(admin_url: str, request) -> str:
    return await create_database(admin_url, f"archon_fake_{request.node.name[:40].lower()}")


@pytest.mark.parametrize("failure", ["error500", "rate_limit", "timeout", "wrong_dimensions"])
async def test_rows_survive_provider_failure_and_are_embedded_after_recovery(openai_db: str, failure: str) -> None:
    fake = FakeEmbeddingsServer(DIMS)
    settings = openai_settings(openai_db)
    fake.mode = failure
    embedder = create_embedder(settings, http_client=fake.http_client())
    async with open_app(settings, embedder=embedder) as app, Client(build_server(settings, app)) as client:
        session = await call(client, "archon_create_session", agent="claude")
        events = []
        for i, text in enumerate(["deploy failed with ERR_CONNECTION_RESET on port 8443", "rollback finished"]):
            events.append(
                await call(
                    client,
                    "archon_add_event",
                    session_id=session["id"],
                    event_type="note",
                    event_data={"t": text, "i": i},
                )
            )
        assert all(e["embedding_status"] == "pending" for e in events)

        async def failed_once() -> bool:
            return (await store_stats(app.database, app.embedder, app.worker)).failing_embeddings >= 2

        await _wait_until(failed_once)
        stats = await call(client, "archon_get_stats")
        assert stats["pending_events"] == 2 and stats["events"] == 2
        assert stats["last_embedding_error"]

        # Still findable by keyword meanwhile; hybrid search degrades instead of failing.
        # (The event after it carries it as context, so it comes second.)
        keyword = await call(client, "archon_search_events", query="ERR_CONNECTION_RESET", mode="keyword", verbose=True)
        assert [r["id"] for r in keyword["results"]] == [events[0]["id"], events[1]["id"]]
        assert keyword["results"][0]["embedding_status"] == "pending"
        hybrid = await call(client, "archon_search_events", query="ERR_CONNECTION_RESET 8443")
        assert [r["id"] for r in hybrid["results"]] == [events[0]["id"], events[1]["id"]]
        if failure != "wrong_dimensions":
            assert hybrid["notice"] and "keyword matches only" in hybrid["notice"]

        fake.mode = "ok"
        app.worker.notify()

        async def all_embedded() -> bool:
            stats = await store_stats(app.database, app.embedder, app.worker)
            return stats.pending_events == 0 and stats.pending_sessions == 0

        await _wait_until(all_embedded)
        detail = await call(client, "archon_get_session", session_id=session["id"], verbose=True)
        assert [e["embedding_status"] for e in detail["events"]] == ["embedded", "embedded"]
        semantic = await call(
            client, "archon_search_events", query="deploy failed connection reset", mode="semantic", threshold=0.3
        )
        assert events[0]["id"] in [r["id"] for r in semantic["results"]]


async def test_embedding_requests_are_batched(openai_db: str) -> None:
    """Rows written by concurrent calls are embedded in one request, not one request per row."""
    fake = FakeEmbeddingsServer(DIMS)
    settings = openai_settings(openai_db, embedding_batch_size=50)
    embedder = create_embedder(settings, http_client=fake.http_client())
    # The worker is driven by hand so that all 30 writes are in before it looks.
    async with open_app(settings, embedder=embedder, run_worker=False) as app:
        session = await app.sessions.create_session(agent="claude")
        await asyncio.gather(
            *(
                app.sessions.add_event(
                    session_id=uuid.UUID(session.id), event_type="step", event_data={"i": i, "text": f"step number {i}"}
                )
                for i in range(30)
            )
        )
        assert await app.worker.run_once() == 30
        assert [len(batch) for batch in fake.inputs] == [30]
        stats = await store_stats(app.database, app.embedder)
        assert (stats.events, stats.pending_events) == (30, 0)


async def test_shutdown_with_a_batch_in_flight_leaves_no_connection_and_loses_nothing(openai_db: str) -> None:
    """The worker finishes (or abandons) its batch before the pool closes: no connection is left
    holding row locks, and the rows it had not reached are embedded by the next server."""
    fake = FakeEmbeddingsServer(DIMS)
    settings = openai_settings(openai_db, embedding_batch_size=5, embedding_batch_delay=0.0)
    embedder = create_embedder(settings, http_client=fake.http_client())
    async with open_app(settings, embedder=embedder) as app:
        session = await app.sessions.create_session(agent="claude")
        for i in range(60):
            await app.sessions.add_event(
                session_id=uuid.UUID(session.id), event_type="step", event_data={"text": f"step number {i}"}
            )
        assert fake.calls > 0  # the worker was busy when the server closed
    engine = create_async_engine(to_asyncpg_url(openai_db))
    async with engine.connect() as conn:
        others = await conn.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        )
        assert others == 0
        await conn.execute(text("SET lock_timeout = '2s'"))
        await conn.execute(text("LOCK TABLE archon_session_events IN ACCESS EXCLUSIVE MODE"))
        await conn.rollback()
    await engine.dispose()
    embedder = create_embedder(settings, http_client=fake.http_client())
    async with open_app(settings, embedder=embedder) as app:

        async def all_embedded() -> bool:
            stats = await store_stats(app.database, app.embedder, app.worker)
            return (stats.events, stats.pending_events) == (60, 0)

        await _wait_until(all_embedded)


async def test_starting_with_another_model_is_refused_with_the_fix(openai_db: str) -> None:
    first = openai_settings(openai_db)
    database = Database(first)
    await database.start()
    await database.close()
    other = openai_settings(openai_db, model="other-model", dims=8)
    database = Database(other)
    with pytest.raises(EmbeddingModelMismatchError) as caught:
        await database.start()
    await database.close()
    message = str(caught.value)
    assert "'fake-embed-small' (16 dimensions)" in message and "'other-model' (8 dimensions)" in message
    assert "archon-mcp reembed" in message


async def test_reembed_switches_model_and_resumes_after_interruption(openai_db: str) -> None:
    old_fake = FakeEmbeddingsServer(DIMS)
    old = openai_settings(openai_db)
    async with open_app(old, embedder=create_embedder(old, http_client=old_fake.http_client())) as app:
        session = await app.sessions.create_session(agent="gpt")
        for i in range(6):
            await app.sessions.add_event(
                session_id=uuid.UUID(session.id), event_type="note", event_data={"text": f"kubernetes rollout {i}"}
            )
        await app.sessions.end_session(session_id=uuid.UUID(session.id), summary="Rolled out the kubernetes deployment")
        assert await app.worker.wait_idle(30)

    new = openai_settings(openai_db, model="fake-embed-8", dims=8, embedding_batch_size=2)
    new_fake = FakeEmbeddingsServer(8)
    database = Database(new)
    await database.start(check_embedding=False)
    embedder = create_embedder(new, http_client=new_fake.http_client())
    try:
        assert "switched from fake-embed-small (16d) to fake-embed-8 (8d)" in await prepare_reembed(
            database, new, everything=False
        )
        worker = EmbeddingWorker(database, embedder, new)
        await worker.run_once()  # "interrupted" after one batch of each table
        partial = await store_stats(database, embedder)
        assert 0 < partial.pending_events < 6

        # Run it again, as a user would after Ctrl-C: no second switch, the rest is embedded.
        assert await prepare_reembed(database, new, everything=False) == "embedding pending rows"
        progress: list[tuple[int, int]] = []
        done, remaining = await embed_until_done(database, worker, lambda d, r: progress.append((d, r)))
        assert (
            remaining == 0 and progress[-1] == (done, 0) and done == 4
        )  # 7 rows - 3 embedded before the "interruption"
        final = await store_stats(database, embedder)
        assert (final.pending_events, final.pending_sessions) == (0, 0)
        assert (final.stored_embedding_model, final.stored_embedding_dimensions) == ("fake-embed-8", 8)
        await database.check_embedding_model()  # the server would now start with the new model
    finally:
        await embedder.aclose()
        await database.close()
    async with open_app(new, embedder=create_embedder(new, http_client=new_fake.http_client())) as app:
        found = await app.search.search_sessions(
            query="kubernetes deployment rolled out", threshold=0.3, mode="semantic"
        )
        assert [h.id for h in found.results] == [session.id]


class _StuckEmbedder:
    """A model that is still loading, or a provider that never answers: nothing it is asked finishes."""

    provider = "openai"
    model = "fake-embed-small"
    dimensions = DIMS

    def __init__(self, stuck_in: str) -> None:
        self.stuck_in = stuck_in
        self.reached = asyncio.Event()

    async def warmup(self) -> None:
        if self.stuck_in == "warmup":
            self.reached.set()
            await asyncio.Event().wait()

    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        self.reached.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("stuck_in", ["warmup", "embed"])
async def test_stopping_abandons_a_stuck_embedder_at_once_and_hands_its_rows_back(
    openai_db: str, stuck_in: str
) -> None:
    """A stopping server used to wait up to 5 s for the model's warm-up (the local model takes ~5 s
    to load) or for a batch in flight: longer than an MCP client's grace before it kills the server.
    Now it leaves at once, and the batch it abandoned is due again now, not when its lease runs out."""
    settings = openai_settings(openai_db, embedding_batch_delay=0.0)
    embedder = _StuckEmbedder(stuck_in)
    async with open_app(settings, embedder=embedder, run_worker=False) as app:
        session = await app.sessions.create_session(agent="claude")
        await app.sessions.add_event(
            session_id=uuid.UUID(session.id), event_type="step", event_data={"text": "an event to embed"}
        )
        worker = EmbeddingWorker(app.database, embedder, settings)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(embedder.reached.wait(), 30)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await worker.stop(task, timeout=5.0)
        elapsed = loop.time() - started
        assert elapsed < 1.0, f"stop() took {elapsed:.2f} s with the embedder stuck in {stuck_in}"
        async with app.database.connect() as conn:
            due = await conn.scalar(
                text(
                    "SELECT count(*) FROM archon_session_events WHERE needs_embedding "
                    "AND (embedding_next_attempt_at IS NULL OR embedding_next_attempt_at <= now())"
                )
            )
        assert due == 1, "the abandoned row should be due again at once (not leased)"
