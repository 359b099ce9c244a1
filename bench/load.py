"""Load driver: real MCP clients against `archon-mcp serve` (stdio and streamable HTTP).

Reports p50/p95/p99 of every tool the server lists, sustained ingest (events/s) with many
concurrent calls, how long the background embeddings take to catch up, and server RSS.

    .venv/bin/python bench/load.py                      # stdio and http, defaults (~3-4 min)
    .venv/bin/python bench/load.py --transport stdio --sessions 10 --ingest-events 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import (
    DEFAULT_DATA_DIR,
    SERVE,
    SERVER_MARK,
    admin_url,
    child_pids,
    log,
    machine,
    outermost,
    percentiles,
    postgres_rss_mb,
    recreate_database,
    server_env,
    table,
    tree_rss_mb,
    write_results,
)


class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    async def call(self, client: Client, tool: str, args: dict[str, Any], bucket: str | None = None) -> dict:
        t0 = time.perf_counter()
        result = await client.call_tool(tool, args)
        ms = (time.perf_counter() - t0) * 1000
        if result.is_error:
            self.errors[tool] += 1
            raise RuntimeError(f"{tool} failed: {' '.join(getattr(c, 'text', '') for c in result.content)}")
        self.samples[bucket or tool].append(ms)
        return result.structured_content or {}


class RssSampler:
    """Samples the server's RSS in the background; keeps the peak."""

    def __init__(self, pids: list[int], data_dir: Path) -> None:
        self.pids, self.data_dir = pids, data_dir
        self.peak_server = 0.0
        self.peak_postgres = 0.0
        self._task: asyncio.Task | None = None

    def sample(self) -> None:
        self.peak_server = max(self.peak_server, sum(tree_rss_mb(p) for p in self.pids))
        self.peak_postgres = max(self.peak_postgres, postgres_rss_mb(self.data_dir))

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(0.5)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def wait_embedded(client: Client, rec: Recorder, timeout: float) -> tuple[float, int]:
    """Poll archon_get_stats until nothing is pending. Returns (seconds, pending left)."""
    t0 = time.perf_counter()
    pending = -1
    while time.perf_counter() - t0 < timeout:
        stats = await rec.call(client, "archon_get_stats", {})
        pending = stats["pending_events"] + stats["pending_sessions"]
        if pending == 0:
            break
        await asyncio.sleep(0.1)
    return time.perf_counter() - t0, pending


async def agent_sessions(
    client: Client, rec: Recorder, rng: random.Random, n: int, events: int, search: bool = True
) -> None:
    """What an agent does in a working session, in order, one call at a time (latency, no contention)."""
    project = str(uuid.uuid4())
    for i in range(n):
        agent = workload.AGENTS[i % len(workload.AGENTS)]
        await rec.call(client, "archon_get_last_session", {"agent": agent, "event_limit": 20})
        s = await rec.call(
            client,
            "archon_create_session",
            {"agent": agent, "project_id": project, "metadata": workload.metadata(rng)},
        )
        sid = s["id"]
        for step in range(events):
            kind, data = workload.event(rng, step)
            await rec.call(client, "archon_add_event", {"session_id": sid, "event_type": kind, "event_data": data})
        burst = [
            dict(zip(("event_type", "event_data"), workload.event(rng, events + k), strict=True)) for k in range(5)
        ]
        await rec.call(client, "archon_add_events", {"session_id": sid, "events": burst})  # a burst of 5
        await rec.call(client, "archon_get_session", {"session_id": sid, "event_limit": 50})
        await rec.call(client, "archon_list_sessions", {"agent": agent, "limit": 20})
        await rec.call(client, "archon_get_active_sessions", {"agent": agent})
        await rec.call(client, "archon_count_sessions", {"agent": agent, "days": 30})
        await rec.call(client, "archon_get_recent_sessions", {"agent": agent, "days": 7})
        # Right after writing: includes the read-your-writes wait for this server's pending rows.
        q = rng.choice(workload.QUERIES)
        if search:
            await rec.call(client, "archon_search_events", {"query": q, "threshold": 0.5})
            await rec.call(client, "archon_search_sessions", {"query": q, "threshold": 0.5})
        if i % 2:
            await rec.call(
                client,
                "archon_update_session_summary",
                {"session_id": sid, "summary": workload.summary(rng), "metadata": {"key_events": [kind]}},
            )
        await rec.call(client, "archon_end_session", {"session_id": sid, "summary": workload.summary(rng)})
        await rec.call(client, "archon_get_stats", {})


async def quiet_search(client: Client, rec: Recorder, rng: random.Random, n: int) -> None:
    """Searches on a store with nothing pending: the query embedding plus the index scan only."""
    await wait_embedded(client, Recorder(), 120)
    for _ in range(n):
        q = rng.choice(workload.QUERIES) + f" {rng.randint(0, 9999)}"  # defeat any cache
        await rec.call(client, "archon_search_events", {"query": q, "threshold": 0.0}, "search_events (idle store)")
        await rec.call(client, "archon_search_sessions", {"query": q, "threshold": 0.0}, "search_sessions (idle store)")


async def ingest(
    clients: list[Client],
    rec: Recorder,
    total: int,
    concurrency: int,
    seconds: float,
    wait: bool = True,
    batch: int = 1,
) -> dict:
    """Many concurrent add_event calls over every client (or archon_add_events calls of `batch` events
    each); then wait for the embeddings to catch up."""
    rng = random.Random(7)
    sids = []
    for c in clients:
        for j in range(concurrency):
            s = await rec.call(c, "archon_create_session", {"agent": workload.AGENTS[j % 3]}, "ingest:create_session")
            sids.append((c, s["id"]))
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(c: Client, sid: str) -> None:
        nonlocal done
        step = 0
        while done < total and time.perf_counter() < deadline:
            if batch > 1:
                events = []
                for _ in range(batch):
                    step += 1
                    kind, data = workload.event(rng, step)
                    events.append({"event_type": kind, "event_data": data})
                done += batch
                await rec.call(c, "archon_add_events", {"session_id": sid, "events": events}, "ingest:add_events")
                stored[0] += batch
                continue
            done += 1
            step += 1
            kind, data = workload.event(rng, step)
            await rec.call(
                c, "archon_add_event", {"session_id": sid, "event_type": kind, "event_data": data}, "ingest:add_event"
            )
            stored[0] += 1

    stored = [0]
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, sid) for c, sid in sids))
    elapsed = time.perf_counter() - t0
    n = stored[0]
    catch_up, left = await wait_embedded(clients[0], Recorder(), 300) if wait else (float("nan"), -1)
    return {
        "events": n,
        "events_per_call": batch,
        "in_flight": len(sids),
        "clients": len(clients),
        "seconds": round(elapsed, 2),
        "events_per_s": round(n / elapsed, 1),
        "embedding_catch_up_s_after_ingest": round(catch_up, 2),
        "embedding_rate_events_per_s": round(n / (elapsed + catch_up), 1),
        "pending_left": left,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(port: int, timeout: float = 120) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return time.perf_counter() - t0
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"http server on {port} did not come up")


async def run_transport(transport: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    admin = admin_url(data_dir)
    database = f"bench_load_{transport}"
    await recreate_database(admin, database)
    env = server_env(data_dir, database)
    if args.embedder_off:
        # The request path alone: an OpenAI-compatible provider on a closed loopback port, so the
        # worker fails fast and backs off, and no model competes for the CPU. Searches are skipped.
        env.update(
            ARCHON_EMBEDDING_PROVIDER="openai",
            ARCHON_EMBEDDING_MODEL="bench-no-model",
            ARCHON_EMBEDDING_DIMENSIONS="384",
            ARCHON_OPENAI_BASE_URL="http://127.0.0.1:9/v1",
            ARCHON_OPENAI_API_KEY="unused",
        )
    rec = Recorder()
    rng = random.Random(42)
    proc = None
    t_start = time.perf_counter()
    if transport == "http":
        port = free_port()
        proc = subprocess.Popen(  # noqa: ASYNC220 - a one-off spawn
            [*SERVE, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await wait_http(port)
        targets: list[Any] = [f"http://127.0.0.1:{port}/mcp"] * args.clients
    else:
        targets = [
            StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env) for _ in range(args.clients)
        ]
    clients = [Client(t) for t in targets]
    try:
        first = clients[0]
        await first.__aenter__()
        initialize_s = time.perf_counter() - t_start
        for c in clients[1:]:
            await c.__aenter__()
        tools = [t.name for t in (await first.list_tools()).tools]
        pids = [proc.pid] if proc else outermost(child_pids(SERVER_MARK))
        # The floor under every tool call: tools/list with the client cache bypassed touches no
        # database and no model (client + SDK + transport + scheduling on this machine).
        for _ in range(50):
            t0 = time.perf_counter()
            await first.list_tools(cache_mode="bypass")
            rec.samples["tools/list (MCP floor, no DB)"].append((time.perf_counter() - t0) * 1000)
        sampler = RssSampler(pids, data_dir)
        sampler.sample()
        rss_idle = sum(tree_rss_mb(p) for p in pids) / len(pids)
        t0 = time.perf_counter()
        if not args.embedder_off:
            await rec.call(first, "archon_search_events", {"query": "warm up", "threshold": 0}, "first search (cold)")
        first_search_s = time.perf_counter() - t0
        with sampler:
            log(f"[{transport}] agent sessions x{args.sessions}")
            await agent_sessions(first, rec, rng, args.sessions, args.events_per_session, not args.embedder_off)
            if not args.embedder_off:
                log(f"[{transport}] idle-store searches x{args.quiet_searches}")
                await quiet_search(first, rec, rng, args.quiet_searches)
            rss_after_sessions = sum(tree_rss_mb(p) for p in pids) / len(pids)
            log(f"[{transport}] ingest {args.ingest_events} events, {args.clients}x{args.concurrency} in flight")
            ingest_result = await ingest(
                clients,
                rec,
                args.ingest_events,
                args.concurrency,
                args.ingest_seconds,
                not args.embedder_off,
                args.ingest_batch,
            )
        sampler.sample()
        rss_end = sum(tree_rss_mb(p) for p in pids) / len(pids)
    finally:
        for c in reversed(clients):
            try:
                await c.__aexit__(None, None, None)
            except Exception as exc:  # a client that failed to enter
                log(f"closing client: {exc!r}")
        if proc:
            proc.terminate()
            proc.wait(30)
    missing = [t for t in tools if t not in rec.samples]
    return {
        "transport": transport,
        "tools_listed": tools,
        "tools_not_measured": missing,
        "initialize_s": round(initialize_s, 2),
        "first_search_s": round(first_search_s, 2),
        "latency_ms": {k: percentiles(v) for k, v in sorted(rec.samples.items())},
        "errors": dict(rec.errors),
        "ingest": ingest_result,
        "rss_mb": {
            "server_idle_after_start": round(rss_idle, 1),
            "server_after_sessions": round(rss_after_sessions, 1),
            "server_end": round(rss_end, 1),
            "server_peak_all_processes": sampler.peak_server,
            "server_processes": len(pids),
            "postgres_uss_peak": sampler.peak_postgres,
        },
    }


def render(results: list[dict]) -> str:
    out = []
    for r in results:
        rows = [[k, v["n"], v["p50"], v["p95"], v["p99"], v["max"]] for k, v in r["latency_ms"].items()]
        out.append(f"### {r['transport']} (initialize {r['initialize_s']} s, first search {r['first_search_s']} s)\n")
        out.append(table(["tool", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
        i = r["ingest"]
        out.append(
            "\n"
            + table(
                ["ingest events", "in flight", "events/s", "embed catch-up after ingest s", "embedded/s overall"],
                [
                    [
                        i["events"],
                        i["in_flight"],
                        i["events_per_s"],
                        i["embedding_catch_up_s_after_ingest"],
                        i["embedding_rate_events_per_s"],
                    ]
                ],
            )
        )
        m = r["rss_mb"]
        out.append(
            "\n"
            + table(
                ["RSS MB: idle", "after sessions", "end", "peak (all server procs)", "postgres USS peak"],
                [
                    [
                        m["server_idle_after_start"],
                        m["server_after_sessions"],
                        m["server_end"],
                        m["server_peak_all_processes"],
                        m["postgres_uss_peak"],
                    ]
                ],
            )
            + "\n"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=("stdio", "http", "both"), default="both")
    p.add_argument("--sessions", type=int, default=20, help="agent sessions in the latency phase")
    p.add_argument("--events-per-session", type=int, default=10)
    p.add_argument("--quiet-searches", type=int, default=30)
    p.add_argument("--ingest-events", type=int, default=2000)
    p.add_argument(
        "--ingest-batch", type=int, default=1, help="events per call: >1 uses archon_add_events instead of add_event"
    )
    p.add_argument("--ingest-seconds", type=float, default=60, help="stop ingest after this long regardless")
    p.add_argument("--clients", type=int, default=1, help="MCP clients for ingest (stdio: one server each)")
    p.add_argument("--concurrency", type=int, default=32, help="in-flight add_event calls per client")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--tag", default="", help="suffix for the results file (load<tag>.json)")
    p.add_argument(
        "--embedder-off", action="store_true", help="no model: time the request path alone (searches skipped)"
    )
    args = p.parse_args()
    transports = ("stdio", "http") if args.transport == "both" else (args.transport,)
    info = machine()
    results = [asyncio.run(run_transport(t, args, args.data_dir)) for t in transports]
    path = write_results(f"load{args.tag}", {"machine": info, "args": vars(args), "results": results})
    print(render(results))
    print(f"\nresults: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
