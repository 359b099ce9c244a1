"""In-process service timings, no MCP and no embedding model: the database path of each write/read.

Separates what the repositories and the pool cost from what MCP and the model cost, so a change
in db.py or repositories/ can be measured without the machine's noise from torch.

    .venv/bin/python bench/service_micro.py                      # the checkout
    ARCHON_BENCH_SRC=/tmp/archon-snap .venv/bin/python bench/service_micro.py --tag _before
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

if os.environ.get("ARCHON_BENCH_SRC"):  # same switch as _serve.py: time a frozen snapshot
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__ + str(f)]
    sys.path.insert(0, os.environ["ARCHON_BENCH_SRC"])

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import (
    DEFAULT_DATA_DIR,
    admin_url,
    machine,
    percentiles,
    recreate_database,
    table,
    write_results,
)


class NoModel:
    """Stands in for the embedder: the worker is not run, so it is never asked to embed."""

    provider = "local"
    model = "all-MiniLM-L6-v2"
    dimensions = 384

    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        return [[0.0] * 384 for _ in texts]

    async def warmup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def main_async(args: argparse.Namespace) -> dict:
    import random

    from archon_mcp.app import open_app
    from archon_mcp.config import Settings

    admin = admin_url(args.data_dir)
    await recreate_database(admin, "bench_micro")
    # The embedded path (no ARCHON_DATABASE_URL), as `archon-mcp serve` runs by default.
    settings = Settings(data_dir=args.data_dir, database_name="bench_micro", search_wait_for_pending=0)
    rng = random.Random(3)
    samples: dict[str, list[float]] = {}

    statements = {"n": 0}
    round_trips: dict[str, list[int]] = {}

    async def timed(name: str, coro):
        before = statements["n"]
        t0 = time.perf_counter()
        out = await coro
        samples.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        round_trips.setdefault(name, []).append(statements["n"] - before)
        return out

    async with open_app(settings, embedder=NoModel(), run_worker=False) as app:
        from sqlalchemy import event

        engine = app.database.engine.sync_engine

        def count(*_: object, **__: object) -> None:
            statements["n"] += 1

        def count_transaction(conn: object, *_: object) -> None:
            # In autocommit (the one-statement writes) SQLAlchemy still fires begin/commit, but
            # asyncpg sends neither BEGIN nor COMMIT.
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                statements["n"] += 1

        # Every statement, BEGIN, COMMIT/ROLLBACK and pool ping is one round trip to PostgreSQL.
        event.listen(engine, "before_cursor_execute", count)
        for name in ("begin", "commit", "rollback"):
            event.listen(engine, name, count_transaction)
        event.listen(
            engine.pool,
            "checkout",
            lambda *_: statements.__setitem__("n", statements["n"] + (1 if engine.pool._pre_ping else 0)),
        )
        svc = app.sessions
        for i in range(args.warmup + args.iterations):
            if i == args.warmup:
                samples.clear()
            agent = workload.AGENTS[i % 3]
            s = await timed("create_session", svc.create_session(agent, metadata=workload.metadata(rng)))
            for step in range(5):
                kind, data = workload.event(rng, step)
                await timed("add_event", svc.add_event(str(s.id), kind, data))
            await timed("get_session", svc.get_session(str(s.id)))
            await timed("list_sessions", svc.list_sessions(agent=agent))
            await timed("update_session_summary", svc.update_session_summary(str(s.id), workload.summary(rng)))
            await timed("end_session", svc.end_session(str(s.id), workload.summary(rng)))
        # concurrency: 32 add_event in flight through the pool
        sids = [str((await svc.create_session("gpt")).id) for _ in range(32)]
        t0 = time.perf_counter()
        n = 0

        async def push(sid: str) -> None:
            nonlocal n
            for step in range(args.iterations):
                await svc.add_event(sid, *workload.event(rng, step))
                n += 1

        await asyncio.gather(*(push(s) for s in sids))
        rate = n / (time.perf_counter() - t0)
    await recreate_database(admin, "bench_micro")
    return {
        "latency_ms": {k: percentiles(v) for k, v in samples.items()},
        "round_trips": {k: max(v) for k, v in round_trips.items()},
        "add_event_32_in_flight_per_s": rate,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    info = machine()
    result = asyncio.run(main_async(args))
    src = os.environ.get("ARCHON_BENCH_SRC") or "checkout"
    path = write_results(f"service_micro{args.tag}", {"machine": info, "source": src, "args": vars(args), **result})
    rows = [
        [k, v["n"], result["round_trips"][k], v["p50"], v["p95"], v["p99"]] for k, v in result["latency_ms"].items()
    ]
    print(f"source: {src}\n")
    print(table(["service call (in-process)", "n", "round trips", "p50 ms", "p95 ms", "p99 ms"], rows))
    print(f"\nadd_event, 32 in flight through the pool: {result['add_event_32_in_flight_per_s']:.0f} events/s")
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
