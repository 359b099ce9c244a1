"""Where a search's time goes, in-process, on a store `bench/scale.py --keep` left behind.

Part 1 times every step of `search_events` and `search_sessions` where it is awaited (the steps run
side by side, so they do not add up). Part 2 times the nearest-vector statement alone, returning
full rows and returning the light rows the search reads (id, session and time).

    .venv/bin/python bench/scale.py --sizes 100000 --mcp-sizes '' --keep --data-dir /tmp/archon-bench/s6
    .venv/bin/python bench/search_steps.py --data-dir /tmp/archon-bench/s6      # ~1 min
    ARCHON_BENCH_SRC=/tmp/snap-old .venv/bin/python bench/search_steps.py --data-dir /tmp/archon-bench/s6

With ARCHON_BENCH_SRC, the server code is that source tree's (a frozen snapshot), as in the other
scripts. "server CPU" is the process's CPU time per search, the in-process query embedding included.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if src := os.environ.get("ARCHON_BENCH_SRC"):  # as bench/_serve.py: the snapshot, not the checkout
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__ + str(f)]
    sys.path.insert(0, src)

import workload

TIMES: dict[str, list[float]] = {}
REPOSITORY_STEPS = (
    "lexemes_and_frequencies", "_bm25", "keyword_search", "cosines", "semantic_events",
    "semantic_sessions", "sessions_by_id", "events_by_id", "tune_hnsw",
)  # fmt: skip
SERVICE_STEPS = ("_query_vector", "_semantic", "_lexemes", "_keyword", "_with_cosines", "_pending")


def timed(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            TIMES.setdefault(label, []).append((time.perf_counter() - t0) * 1000)

    setattr(owner, name, wrapper)


def pct(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {ordered[len(ordered) // 2]:.1f} / p95 {ordered[int(len(ordered) * 0.95)]:.1f} ms"


async def main_async(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from archon_mcp.config import Settings
    from archon_mcp.db import Database
    from archon_mcp.embeddings import create_embedder
    from archon_mcp.models import AgentSession, SessionEvent
    from archon_mcp.repositories import search as repo
    from archon_mcp.services.search import SearchService

    for name in REPOSITORY_STEPS:
        timed(repo, name, name)
    for name in SERVICE_STEPS:
        timed(SearchService, name, f"service.{name}")
    settings = Settings(
        data_dir=args.data_dir, database_name=args.database, model_server=False, search_wait_for_pending=0
    )
    database = Database(settings)
    await database.start(migrate=False)
    embedder = create_embedder(settings)
    await embedder.warmup()
    service = SearchService(database, embedder, None, settings)
    rng = random.Random(5)
    queries = [f"{rng.choice(workload.QUERIES)} {rng.choice(workload.COMPONENTS)}" for _ in range(args.queries)]
    for kind, search in (("search_events", service.search_events), ("search_sessions", service.search_sessions)):
        for query in queries[:5]:  # warm the caches
            await search(query=query, limit=10, threshold=0.0)
        TIMES.clear()
        total = []
        cpu = time.process_time()
        for query in queries:
            t0 = time.perf_counter()
            await search(query=f"{query} x", limit=10, threshold=0.0)
            total.append((time.perf_counter() - t0) * 1000)
        cpu_ms = (time.process_time() - cpu) / len(queries) * 1000
        print(f"{kind}: whole search {pct(total)}; server CPU {cpu_ms:.1f} ms per search")
        for name, values in sorted(TIMES.items()):
            print(f"    {name:<26} n={len(values):<4} {pct(values)}")

    vectors = await embedder.embed(queries[: args.rows_queries])
    full, light = [], []
    for vector in vectors:
        for out, columns in ((full, repo.EVENT_COLUMNS), (light, None)):
            async with database.begin() as conn:
                await repo.tune_hnsw(conn, 100, args.rows)
                t0 = time.perf_counter()
                if columns is None:  # what the search runs: light rows
                    await repo.semantic_events(
                        conn, vector, model_name=embedder.model, limit=100, filters=repo.SearchFilters()
                    )
                else:
                    distance = SessionEvent.embedding.cosine_distance(vector).label("distance")
                    stmt = (
                        select(*columns, distance)
                        .join(AgentSession, AgentSession.id == SessionEvent.session_id)
                        .where(SessionEvent.embedding.is_not(None), SessionEvent.embedding_model == embedder.model)
                        .order_by(distance)
                        .limit(100)
                    )
                    (await conn.execute(stmt)).all()
                out.append((time.perf_counter() - t0) * 1000)
    print(f"100 nearest events, full rows: {pct(full)}; id, session and time only: {pct(light)}")
    await embedder.aclose()
    await database.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--database", default="bench_scale")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--rows-queries", type=int, default=40)
    p.add_argument("--rows", type=float, default=100_000, help="the table size ef_search is set for")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
