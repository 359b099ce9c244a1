"""Seed an mcp-memory-service sqlite-vec store through its own storage API (run by bench/peers.py).

Runs in the peers venv (mcp-memory-service's Python), never in the project's. It opens the store
with the factory the server uses (same pragmas, schema and migrations), then calls the storage's
own `store_batch`, which writes each memory the way `memory_store` does: the `memories` row, its
`memory_embeddings` vector, the FTS row (by trigger) and the `sync_events` entry. Only the model
call is replaced: `store_batch` asks `embedding_model.encode(contents)`, and gets the vectors
peers.py computed beforehand with the same all-MiniLM-L6-v2 weights (one per row, in order).

    python _mms_seed.py MEMORIES.jsonl VECTORS.npy     # env: the server's MCP_MEMORY_* settings
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 1000


class Precomputed:
    """Stands in for the SentenceTransformer inside `store_batch`: hands out the next vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.at = 0

    def encode(self, contents, convert_to_numpy: bool = True, **_: object) -> np.ndarray:
        out = self.vectors[self.at : self.at + len(contents)]
        if len(out) != len(contents):
            raise RuntimeError(f"ran out of vectors at {self.at}")
        self.at += len(contents)
        return out


async def main(rows: list[dict], vectors: np.ndarray) -> None:
    from mcp_memory_service.models.memory import Memory
    from mcp_memory_service.storage.factory import create_storage_instance
    from mcp_memory_service.utils.hashing import generate_content_hash

    t0 = time.perf_counter()
    storage = await create_storage_instance(os.environ["MCP_MEMORY_SQLITE_PATH"])
    init_s = time.perf_counter() - t0
    model, storage.embedding_model = storage.embedding_model, Precomputed(vectors)
    t1 = time.perf_counter()
    stored = 0
    for lo in range(0, len(rows), BATCH):
        batch = [
            # What the memory_store tool builds (services/memory_service.store_memory): the content,
            # its hash, the tags, type "note", no other metadata; the event's time as created_at.
            Memory(
                content=r["content"],
                content_hash=generate_content_hash(r["content"]),
                tags=r["tags"],
                memory_type="note",
                metadata={},
                created_at=r["created_at"],
                updated_at=r["created_at"],
            )
            for r in rows[lo : lo + BATCH]
        ]
        results = await storage.store_batch(batch)
        failed = [msg for ok, msg in results if not ok]
        if failed:
            raise SystemExit(f"store_batch refused {len(failed)} memories, e.g. {failed[0]}")
        stored += len(batch)
    storage.embedding_model = model
    count = storage.conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    storage.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await storage.close()
    print(
        json.dumps(
            {"stored": stored, "rows": count, "open_s": round(init_s, 1), "store_s": round(time.perf_counter() - t1, 1)}
        )
    )


if __name__ == "__main__":
    memories = [json.loads(line) for line in Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()]
    vectors = np.load(sys.argv[2])
    if len(memories) != len(vectors):
        raise SystemExit(f"{len(memories)} memories but {len(vectors)} vectors")
    asyncio.run(main(memories, vectors))
