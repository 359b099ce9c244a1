"""Resident memory of the local embedder: what each import adds, and the peak while embedding batches,
for several forward-pass batch sizes with and without handing freed memory back to the OS
(glibc `malloc_trim`). Each configuration runs in a fresh process, as the server would.

    .venv/bin/python bench/rss_micro.py            # ~2 min; writes bench/results/rss_micro.json
"""

from __future__ import annotations

import importlib
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
import workload
from _common import machine, table, write_results

CONFIGS = [(64, False), (64, True), (32, True), (16, False), (16, True)]
ROUNDS = 3


def child(batch: int, trim: bool) -> dict[str, float]:
    """Runs in the subprocess: the server's imports, the model through LocalEmbedder, then batches."""
    import psutil

    proc = psutil.Process()

    def mb() -> float:
        return round(proc.memory_info().rss / 2**20, 1)

    out: dict[str, float] = {"python": mb()}
    importlib.import_module("archon_mcp.server")  # what the server has loaded before the app

    out["server module"] = mb()
    importlib.import_module("archon_mcp.app")

    out["app (SQLAlchemy, asyncpg)"] = mb()
    from archon_mcp.embeddings import _local

    _local.ENCODE_BATCH = batch
    if not trim:
        _local._MALLOC_TRIM = None
    embedder = _local.LocalEmbedder("all-MiniLM-L6-v2", 384)
    embedder._load()
    out["model loaded"] = mb()
    rng = random.Random(7)
    from archon_mcp.embeddings import event_text

    texts = [event_text(*workload.event(rng, i), 2000) for i in range(256)]
    peak = 0.0

    def work() -> None:  # in a thread, as the server's worker does
        nonlocal peak
        for _ in range(ROUNDS):
            for i in range(0, len(texts), 64):  # the worker claims 64 rows per pass
                embedder._encode(texts[i : i + 64])
                peak = max(peak, mb())

    started = time.perf_counter()
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    out["texts per s"] = round(ROUNDS * len(texts) / (time.perf_counter() - started), 1)
    out["peak while embedding"] = peak
    out["after"] = mb()
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3] == "1")))
        return
    runs = []
    for batch, trim in CONFIGS:
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(batch), "1" if trim else "0"],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append({"batch": batch, "malloc_trim": trim, **json.loads(result.stdout.strip().splitlines()[-1])})
        print(f"batch {batch}, trim {trim}: {runs[-1]}", file=sys.stderr)
    keys = [k for k in runs[0] if k not in ("batch", "malloc_trim")]
    print(table(["batch", "malloc_trim", *keys], [[r["batch"], r["malloc_trim"], *(r[k] for k in keys)] for r in runs]))
    path = write_results("rss_micro", {"machine": machine(), "load": os.getloadavg(), "runs": runs})
    print(f"\nwritten: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
