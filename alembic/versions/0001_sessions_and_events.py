"""Sessions, events and the embedding model record.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The vector size follows the configured embedding model: the caller passes it in
`config.attributes["embedding"] = (provider, model, dimensions)`, or it is read from the
ARCHON_* settings. It is recorded in archon_embedding_config so that a later start with a
different model is caught (see `archon-mcp reembed`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from alembic import context, op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _embedding_choice() -> tuple[str, str, int]:
    chosen = context.config.attributes.get("embedding")
    if chosen is not None:
        return chosen
    from archon_mcp.config import Settings

    settings = Settings()
    return (
        settings.embedding_provider,
        settings.resolved_embedding_model,
        settings.resolved_embedding_dimensions,
    )


def _embedding_columns(dimensions: int) -> list[sa.Column]:
    return [
        sa.Column("embedding", Vector(dimensions), nullable=True),
        sa.Column("embedding_model", sa.Text(), nullable=True),
        sa.Column("needs_embedding", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("embedding_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("embedding_next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("embedding_error", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    provider, model, dimensions = _embedding_choice()
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "archon_sessions",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("project_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        *_embedding_columns(dimensions),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archon_sessions")),
    )
    op.create_index("ix_archon_sessions_agent_started_at", "archon_sessions", ["agent", sa.text("started_at DESC")])
    op.create_index("ix_archon_sessions_started_at", "archon_sessions", [sa.text("started_at DESC")])
    op.create_index(
        "ix_archon_sessions_project_id_started_at",
        "archon_sessions",
        ["project_id", sa.text("started_at DESC")],
        postgresql_where=sa.text("project_id IS NOT NULL"),
    )
    op.create_index(
        "ix_archon_sessions_active",
        "archon_sessions",
        ["agent", sa.text("started_at DESC")],
        postgresql_where=sa.text("ended_at IS NULL"),
    )

    op.create_table(
        "archon_session_events",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("session_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_data", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        *_embedding_columns(dimensions),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["archon_sessions.id"],
            name=op.f("fk_archon_session_events_session_id_archon_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archon_session_events")),
    )
    op.create_index(
        "ix_archon_session_events_session_id_timestamp", "archon_session_events", ["session_id", "timestamp"]
    )
    op.create_index(
        "ix_archon_session_events_event_type_timestamp", "archon_session_events", ["event_type", "timestamp"]
    )

    for table in ("archon_sessions", "archon_session_events"):
        op.create_index(
            f"ix_{table}_embedding_hnsw",
            table,
            ["embedding"],
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        )
        # The embedding worker's queue: only rows still waiting for a vector.
        op.create_index(
            f"ix_{table}_pending_embedding",
            table,
            ["embedding_next_attempt_at"],
            postgresql_where=sa.text("needs_embedding"),
        )

    config_table = op.create_table(
        "archon_embedding_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archon_embedding_config")),
        sa.CheckConstraint("id = 1", name=op.f("ck_archon_embedding_config_single_row")),
    )
    op.bulk_insert(config_table, [{"id": 1, "provider": provider, "model": model, "dimensions": dimensions}])


def downgrade() -> None:
    op.drop_table("archon_embedding_config")
    op.drop_table("archon_session_events")
    op.drop_table("archon_sessions")
