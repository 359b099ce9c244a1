"""The local model alone, every runtime side by side in one run: sentence-transformers on torch (the
path of the issue that asked for a faster one), ONNX Runtime, and OpenVINO (bfloat16 where the CPU has
it natively). For each: one-query latency (the floor under every search), batch throughput (how fast the
embedding backlog drains) with 1 and 2 threads, one query's latency while a batch runs beside it, the
worst cosine to torch's vectors over the workload and the tests' varied texts, and, each in a fresh
process, import + load time and resident memory after a batch.

    .venv/bin/python bench/embed_micro.py                    # ~5 min on 2 cores
    .venv/bin/python bench/embed_micro.py --runtimes torch,onnx
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
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


def query_beside_batch(embedder, batch: list[str], queries: list[str]) -> dict[str, float]:
    """One query at a time (as a search sends it) while a background batch runs without pause."""
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            embedder._encode(batch, True)

    worker = threading.Thread(target=drain)
    worker.start()
    time.sleep(0.3)
    took = []
    for q in queries:
        t = time.perf_counter()
        embedder._encode([q])
        took.append((time.perf_counter() - t) * 1000)
        time.sleep(0.01)
    stop.set()
    worker.join()
    return percentiles(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default="torch,onnx,openvino", help="comma-separated; torch is the reference")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per thread count")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    import torch
    from test_onnx_runtime import varied_texts

    from archon_mcp.config import Settings
    from archon_mcp.embeddings import event_text, local_embedder

    rng = random.Random(1)
    texts = [event_text(*workload.event(rng, i)) for i in range(512)]
    queries = [f"{q} {i}" for i, q in enumerate(workload.QUERIES * 10)]
    cache = Settings().model_cache_dir
    embedders = {
        runtime: local_embedder("all-MiniLM-L6-v2", 384, runtime=runtime, threads=1, cache_dir=cache)
        for runtime in dict.fromkeys(["torch", *runtimes])
    }
    for embedder in embedders.values():
        asyncio.run(embedder.warmup())
    checked = texts + queries + varied_texts()
    reference = embedders["torch"]._encode(checked)
    worst = {
        runtime: min(cosine(a, b) for a, b in zip(reference, embedder._encode(checked), strict=True))
        for runtime, embedder in embedders.items()
    }
    in_use = {runtime: embedder.runtime_in_use for runtime, embedder in embedders.items()}

    runs: list[dict] = []
    for threads in [1, 2] * args.rounds:  # interleaved: every runtime sees the same machine load
        torch.set_num_threads(threads)
        for runtime in runtimes:
            if runtime == "torch":
                embedder = embedders["torch"]  # torch threads are per process: set above
            else:
                embedder = local_embedder("all-MiniLM-L6-v2", 384, runtime=runtime, threads=threads, cache_dir=cache)
            asyncio.run(embedder.warmup())
            embedder._encode(queries[:5])
            single = []
            for q in queries:
                t = time.perf_counter()
                embedder._encode([q])
                single.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            embedder._encode(texts, True)
            rate = len(texts) / (time.perf_counter() - t)
            beside = query_beside_batch(embedder, texts[:64], queries[:40]) if threads == 1 else None
            runs.append({"runtime": runtime, "threads": threads, "one_query_ms": percentiles(single), "rate": rate,
                         "query_beside_batch_ms": beside})  # fmt: skip

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    rows, summary = [], []
    for threads in (1, 2):
        rates = {}
        for runtime in runtimes:
            mine = [r for r in runs if r["runtime"] == runtime and r["threads"] == threads]
            rates[runtime] = mean([r["rate"] for r in mine])
            beside = [r["query_beside_batch_ms"] for r in mine if r["query_beside_batch_ms"]]
            rows.append([
                runtime, in_use[runtime], threads,
                round(mean([r["one_query_ms"]["p50"] for r in mine]), 2),
                round(mean([r["one_query_ms"]["p95"] for r in mine]), 2),
                round(rates[runtime], 1),
                f"{mean([b['p50'] for b in beside]):.1f} / {mean([b['p95'] for b in beside]):.1f}" if beside else "-",
            ])  # fmt: skip
        if "torch" in rates:
            ratios = {f"{r}_over_torch": round(rates[r] / rates["torch"], 2) for r in rates}
            summary.append({"threads": threads, **ratios})
    colds = {runtime: cold(runtime, texts[:64]) for runtime in runtimes}
    path = write_results(
        "embed_micro",
        {"machine": machine(), "texts_checked": len(checked), "worst_cosine_vs_torch": worst, "runtime_in_use": in_use,
         "runs": runs, "ratio": summary, "cold": colds},
    )  # fmt: skip
    heads = ["runtime", "in use", "threads", "one query p50 ms", "p95 ms", "batch of 512: texts/s",
             "query beside a batch p50 / p95 ms"]  # fmt: skip
    print(table(heads, rows))
    print(f"\nthroughput over torch's: {summary}")
    print(f"worst cosine to torch, {len(checked)} texts: " + ", ".join(f"{r} {w:.6f}" for r, w in worst.items()) + "\n")
    print(table(["runtime", "import + load s (fresh process)", "RSS after a batch, MB"],
                [[r, c["load_s"], c["rss_mb"]] for r, c in colds.items()]))  # fmt: skip
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
