"""One event insert, layer by layer: where the milliseconds of a write go, without the model.

The same insert of one event into an active session, 300 times each, in-process:

* `orm transaction`: how the server wrote an event until 2026-11-26 (an ORM `AsyncSession`
  transaction: BEGIN, SELECT the session FOR SHARE, INSERT ... RETURNING into an ORM object,
  COMMIT; four round trips), reproduced here;
* `service (core, autocommit)`: what `SessionService.add_event` does now (one Core statement,
  `INSERT ... SELECT ... FOR SHARE`, autocommit: one round trip);
* `raw asyncpg`: the same statement on the pooled connection's asyncpg driver, no SQLAlchemy;
* `mcp in-process`: `archon_add_event` through the SDK's in-memory `Client` (the tool layer and
  the SDK, no stdio, no subprocess);
* `mcp in-process, no-op`: the SDK alone (`archon_get_stats` is not a no-op, so a bare server
  with one tool that returns a constant).

    .venv/bin/python bench/write_paths.py            # ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

if os.environ.get("ARCHON_BENCH_SRC"):  # same switch as _serve.py: time a frozen snapshot
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__ + str(f)]
    sys.path.insert(0, os.environ["ARCHON_BENCH_SRC"])

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_DIR, admin_url, machine, percentiles, recreate_database, table, write_results
from service_micro import NoModel

DATA = {"task_id": "t-123", "title": "Fix the database migration error in alembic", "status": "in_progress"}
RAW_INSERT = (
    "INSERT INTO archon_session_events (session_id, event_type, event_data, metadata, needs_embedding) "
    "SELECT s.id, $2, $3::jsonb, '{}'::jsonb, true FROM archon_sessions s "
    "WHERE s.id = $1 AND s.ended_at IS NULL FOR SHARE RETURNING id, timestamp"
)


async def main_async(args: argparse.Namespace) -> dict:
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from sqlalchemy import insert, select

    from archon_mcp.app import open_app
    from archon_mcp.config import Settings
    from archon_mcp.models import AgentSession, SessionEvent
    from archon_mcp.server import build_server

    admin = admin_url(args.data_dir)
    await recreate_database(admin, "bench_write_paths")
    settings = Settings(data_dir=args.data_dir, database_name="bench_write_paths", search_wait_for_pending=0)
    out: dict[str, dict] = {}
    async with open_app(settings, embedder=NoModel(), run_worker=False) as app:
        sid = uuid.UUID((await app.sessions.create_session(agent="claude")).id)

        async def orm() -> None:
            async with app.database.session() as db, db.begin():
                await db.scalar(select(AgentSession).where(AgentSession.id == sid).with_for_update(read=True))
                stmt = insert(SessionEvent).values(
                    session_id=sid, event_type="task_created", event_data=DATA, metadata_={}, needs_embedding=True
                )
                (await db.scalars(stmt.returning(SessionEvent))).one()

        async def service() -> None:
            await app.sessions.add_event(session_id=sid, event_type="task_created", event_data=DATA)

        async def raw() -> None:
            async with app.database.engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                await driver.fetchrow(RAW_INSERT, sid, "task_created", json.dumps(DATA))

        noop = MCPServer("noop")

        @noop.tool()
        def nothing() -> dict:
            return {"ok": True}

        async with Client(build_server(settings, app)) as client, Client(noop) as bare:

            async def mcp() -> None:
                args_ = {"session_id": str(sid), "event_type": "task_created", "event_data": DATA}
                result = await client.call_tool("archon_add_event", args_)
                assert not result.is_error, result

            async def mcp_noop() -> None:
                await bare.call_tool("nothing", {})

            paths = {
                "orm transaction": orm,
                "service (core, autocommit)": service,
                "raw asyncpg": raw,
                "mcp in-process": mcp,
                "mcp in-process, no-op": mcp_noop,
            }
            for _ in range(2):  # two alternating passes: the machine's noise hits every path
                for name, call in paths.items():
                    for _ in range(args.warmup):
                        await call()
                    samples = []
                    for _ in range(args.iterations // 2):
                        t0 = time.perf_counter()
                        await call()
                        samples.append((time.perf_counter() - t0) * 1000)
                    out.setdefault(name, {"samples": []})["samples"].extend(samples)
    await recreate_database(admin, "bench_write_paths")
    return {name: percentiles(v["samples"]) for name, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    info = machine()
    result = asyncio.run(main_async(args))
    path = write_results(f"write_paths{args.tag}", {"machine": info, "args": vars(args), "latency_ms": result})
    rows = [[k, v["n"], v["p50"], v["p95"], v["p99"]] for k, v in result.items()]
    print(table(["one event insert (in-process)", "n", "p50 ms", "p95 ms", "p99 ms"], rows))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
