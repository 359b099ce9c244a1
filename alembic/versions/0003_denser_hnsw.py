"""Denser HNSW graphs on the embedding columns: recall@10 >= 0.98 at 100k events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

0001 built both HNSW indexes with pgvector's defaults, m = 16 and ef_construction = 64. On the
clustered synthetic set of bench/scale.py at 100k events, that graph's recall@10 vs exact search
at the server's ef_search = 200 varies from build to build: 0.944-0.992 over the builds measured.
With m = 24 (more links per node) and ef_construction = 128 (a wider candidate list while
linking) it was 0.9925-0.999 in four builds (0.9825-0.9925 already at ef_search = 100), for
1-3 ms more per search at the same ef_search and the same index size (205 MB at 100k); the build
takes ~1.8x as long (75-91 s vs 44-49 s at 100k on 2 cores). m = 32, ef_construction = 200 gains
little more (0.9995-1.0) for another ~1.7x of build time. See bench/results/scale_hnsw.json.

Only the indexes are rebuilt: the columns (and their dimension) are untouched; names, opclass
and the absence of a WHERE clause stay as in 0001. On an empty or small store this is instant.
An existing store pays one build (85 s for 100k events on 2 cores, see _build_memory), during
which writes to the table wait (CREATE INDEX takes a SHARE lock). The new index is built under a
temporary name before the old one is dropped, so searches keep using the old index until the
swap at commit.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("archon_sessions", "archon_session_events")
OLD = "m = 16, ef_construction = 64"  # 0001
NEW = "m = 24, ef_construction = 128"
# pgvector builds the graph in maintenance_work_mem and, once it no longer fits, goes on on disk
# "significantly" slower: at 100k events with the 64 MB default the upgrade took 410 s instead of
# ~80 s. Per vector the graph holds the vector plus ~1 KB of links and bookkeeping at m = 24
# (pgvector 0.8.5, 384 dimensions: 8 MB held 3,344 vectors, ~2.5 KB each). Raised for this
# transaction only, sized to the largest table, never above 1 GB. A parallel build reserves it as
# one shared-memory segment up front: a PostgreSQL in Docker needs a /dev/shm that large (the
# Docker default is 64 MB).
GRAPH_OVERHEAD_BYTES = 1024
MAX_BUILD_MEMORY_MB = 1024


def _build_memory() -> None:
    bind = op.get_bind()
    needed = 0
    for table in TABLES:
        rows, vector_bytes = bind.execute(
            sa.text(f"SELECT count(embedding), coalesce(max(pg_column_size(embedding)), 0) FROM {table}")
        ).one()
        needed = max(needed, rows * (vector_bytes + GRAPH_OVERHEAD_BYTES))
    needed_mb = min(MAX_BUILD_MEMORY_MB, int(needed * 1.25) // 2**20 + 8)
    current_mb = bind.scalar(
        sa.text("SELECT setting::bigint / 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'")
    )
    if needed_mb > current_mb:
        op.execute(f"SET LOCAL maintenance_work_mem = '{needed_mb}MB'")


def _rebuild(params: str) -> None:
    # The server migrates on a connection without timeouts (Database.upgrade); `db upgrade` against a
    # role or database with a statement_timeout of its own must not cut a long build short either.
    op.execute("SET LOCAL statement_timeout = 0")
    _build_memory()
    for table in TABLES:
        name = f"ix_{table}_embedding_hnsw"
        op.execute(f"CREATE INDEX {name}_new ON {table} USING hnsw (embedding vector_cosine_ops) WITH ({params})")
        op.execute(f"DROP INDEX {name}")
        op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def upgrade() -> None:
    _rebuild(NEW)


def downgrade() -> None:
    _rebuild(OLD)
