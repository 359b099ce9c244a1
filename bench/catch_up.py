"""How fast a burst of events becomes searchable by meaning, per local-model runtime, end to end (issue 16).

For each runtime in turn (A B B A over the rounds): one stdio client on a data dir of that runtime's
own (so each gets its own shared server and model process), a fresh database, N events written with
`archon_add_events` (50 per call, from a few sessions), then `archon_get_stats` polled until nothing
is pending. Reported: ingest seconds, catch-up seconds after the ingest, and events embedded per
second overall (N / both). The model process is the server's own, as installed (`ARCHON_EMBEDDING_RUNTIME`).

    cd /tmp && /work/main/.venv/bin/python /work/main/bench/catch_up.py --events 3000 --runtimes onnx,auto   # ~5 min
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import DEFAULT_DATA_DIR, SERVE, log, machine, server_env, structured, table, write_results

BATCH = 50
SESSIONS = 4


async def one_run(runtime: str, events: int, data_dir: Path, run: int) -> dict:
    root = data_dir / f"catch-up-{runtime}"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    env = server_env(root, f"archon_catch_up_{run}", ARCHON_EMBEDDING_RUNTIME=runtime)
    params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)
    rng = random.Random(run)
    async with Client(params) as client:
        await client.call_tool("archon_get_stats", {})  # started, migrated, model loaded by the first search below
        await client.call_tool("archon_search_events", {"query": "warm the model"})
        sids = [
            structured(await client.call_tool("archon_create_session", {"agent": workload.AGENTS[i % 3]}))["id"]
            for i in range(SESSIONS)
        ]
        t0 = time.perf_counter()
        for start in range(0, events, BATCH):
            burst = [
                dict(zip(("event_type", "event_data"), workload.event(rng, start + k), strict=True))
                for k in range(min(BATCH, events - start))
            ]
            await client.call_tool(
                "archon_add_events", {"session_id": sids[start // BATCH % SESSIONS], "events": burst}
            )
        ingest = time.perf_counter() - t0
        pending = -1
        while time.perf_counter() - t0 < 1200:
            stats = structured(await client.call_tool("archon_get_stats", {}))
            pending = stats["pending_events"] + stats["pending_sessions"]
            if pending == 0:
                break
            await asyncio.sleep(0.2)
        total = time.perf_counter() - t0
    return {
        "runtime": runtime,
        "in_use": stats.get("embedding_runtime"),
        "events": events,
        "ingest_s": round(ingest, 2),
        "catch_up_s": round(total - ingest, 2),
        "embedded_per_s": round(events / total, 1),
        "left_pending": pending,
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--runtimes", default="onnx,auto", help="comma-separated ARCHON_EMBEDDING_RUNTIME values")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    runtimes = args.runtimes.split(",")
    runs = []
    for r in range(args.rounds):
        for runtime in runtimes if r % 2 == 0 else runtimes[::-1]:  # A B B A
            log(f"round {r + 1}: {runtime}")
            runs.append(await one_run(runtime, args.events, args.data_dir, len(runs)))
            log(str(runs[-1]))
    rows = [[x["runtime"], x["in_use"], x["events"], x["ingest_s"], x["catch_up_s"], x["embedded_per_s"]] for x in runs]
    path = write_results(f"catch_up{args.tag}", {"machine": machine(), "runs": runs})
    print(table(["runtime", "in use", "events", "ingest s", "catch-up after ingest s", "embedded/s overall"], rows))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    asyncio.run(main())
