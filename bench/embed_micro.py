"""The local model alone, today's path (sentence-transformers on torch) and ONNX Runtime side by side
in one run: one-query latency (the floor under every search), batch throughput (how fast the
embedding backlog drains) with 1 and 2 threads, the worst cosine between the two runtimes' vectors,
and, each in a fresh process, import + load time and resident memory after a batch.

    .venv/bin/python bench/embed_micro.py            # ~3-4 min on 2 busy cores
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import ROOT, machine, percentiles, table, write_results

# Runs in a fresh process: import + load time, and RSS once a batch of the workload is embedded.
COLD = """
import asyncio, json, sys, time
t0 = time.perf_counter()
from archon_mcp.config import Settings
from archon_mcp.embeddings import local_embedder
embedder = local_embedder("all-MiniLM-L6-v2", 384, runtime=sys.argv[1], threads=1, cache_dir=Settings().model_cache_dir)
asyncio.run(embedder.warmup())
load = time.perf_counter() - t0
asyncio.run(embedder.embed(json.loads(sys.stdin.read())))
import psutil
print(json.dumps({"load_s": round(load, 2), "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1)}))
"""


def cold(runtime: str, texts: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", COLD, runtime], input=json.dumps(texts), capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        (sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5)
    )


def main() -> None:
    import torch

    from archon_mcp.config import Settings
    from archon_mcp.embeddings import event_text, local_embedder

    rng = random.Random(1)
    texts = [event_text(*workload.event(rng, i)) for i in range(512)]
    queries = [f"{q} {i}" for i, q in enumerate(workload.QUERIES * 10)]
    cache = Settings().model_cache_dir
    embedders = {
        runtime: local_embedder("all-MiniLM-L6-v2", 384, runtime=runtime, threads=1, cache_dir=cache)
        for runtime in ("torch", "onnx")
    }
    for embedder in embedders.values():
        asyncio.run(embedder.warmup())
    reference = embedders["torch"]._encode(texts + queries)
    worst = min(cosine(a, b) for a, b in zip(reference, embedders["onnx"]._encode(texts + queries), strict=True))

    runs: list[dict] = []
    for threads in (1, 2, 1, 2):  # interleaved: both runtimes see the same machine load
        torch.set_num_threads(threads)
        for runtime in ("torch", "onnx"):
            embedder = local_embedder("all-MiniLM-L6-v2", 384, runtime=runtime, threads=threads, cache_dir=cache)
            if runtime == "torch":
                embedder = embedders["torch"]  # torch threads are per process: set above
            asyncio.run(embedder.warmup())
            embedder._encode(queries[:5])
            single = []
            for q in queries:
                t = time.perf_counter()
                embedder._encode([q])
                single.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            embedder._encode(texts)
            rate = len(texts) / (time.perf_counter() - t)
            runs.append({"runtime": runtime, "threads": threads, "one_query_ms": percentiles(single), "rate": rate})

    rows, summary = [], []
    for threads in (1, 2):
        by_runtime = {}
        for runtime in ("torch", "onnx"):
            mine = [r for r in runs if r["runtime"] == runtime and r["threads"] == threads]
            rate = sum(r["rate"] for r in mine) / len(mine)
            p50 = sum(r["one_query_ms"]["p50"] for r in mine) / len(mine)
            p95 = sum(r["one_query_ms"]["p95"] for r in mine) / len(mine)
            by_runtime[runtime] = rate
            rows.append([runtime, threads, round(p50, 2), round(p95, 2), round(rate, 1)])
        summary.append({"threads": threads, "onnx_over_torch": round(by_runtime["onnx"] / by_runtime["torch"], 2)})
    colds = {runtime: cold(runtime, texts[:64]) for runtime in ("torch", "onnx")}
    path = write_results(
        "embed_micro",
        {"machine": machine(), "worst_cosine_onnx_vs_torch": worst, "runs": runs, "ratio": summary, "cold": colds},
    )
    print(table(["runtime", "threads", "one query p50 ms", "one query p95 ms", "batch of 512: texts/s"], rows))
    print(f"\nonnx / torch throughput: {summary}")
    print(f"worst cosine, onnx vs torch, {len(texts) + len(queries)} texts: {worst:.6f}\n")
    print(table(["runtime", "import + load s (fresh process)", "RSS after a batch, MB"],
                [[r, c["load_s"], c["rss_mb"]] for r, c in colds.items()]))  # fmt: skip
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
