"""Projects by name, and a lookup index for sessions recorded by client hooks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`archon_projects` maps a name such as `billing-api` to one stable id: the name is stored as first
written (stripped), unique without regard to case, so `Billing-API` and `billing-api` are the same
project from every client. Sessions keep their `project_id` uuid column (no foreign key: UUID
project ids written before this migration, or by callers that never name their project, stay valid).

The hooks of coding agents (`archon-mcp hook claude-code`) look their session up by the client's
own session id, kept in the session's metadata (`hook_client`, `hook_session_id`): an expression
index makes that lookup one index probe on every hook call.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archon_projects",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("name = btrim(name) AND length(name) BETWEEN 1 AND 200", name="name_trimmed"),
    )
    op.create_index("uq_archon_projects_lower_name", "archon_projects", [sa.text("lower(name)")], unique=True)
    op.create_index(
        "ix_archon_sessions_hook_session",
        "archon_sessions",
        [sa.text("(metadata ->> 'hook_client')"), sa.text("(metadata ->> 'hook_session_id')")],
        postgresql_where=sa.text("metadata ? 'hook_session_id'"),
    )


def downgrade() -> None:
    op.drop_index("ix_archon_sessions_hook_session", table_name="archon_sessions")
    op.drop_index("uq_archon_projects_lower_name", table_name="archon_projects")
    op.drop_table("archon_projects")
