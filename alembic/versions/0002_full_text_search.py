"""Full-text search columns for hybrid (keyword + vector) search.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Each table gets a generated `search_tsv` with two parts:
- English stemming over the prose (summary and metadata lists; event type and string values),
  for natural-language keywords ("migrations" finds "migration");
- the 'simple' configuration over the raw text split at every non-alphanumeric character, so
  that exact identifiers are findable: `psycopg.errors.UndefinedTable` yields `undefinedtable`,
  `TASK-1482` yields `task` and `1482`, `session_service.py` yields `session_service`... split
  into `session`, `service`, `py`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SESSION_TSV = """
    setweight(to_tsvector('english', coalesce(summary, '')), 'A')
    || setweight(to_tsvector('english',
         coalesce(metadata ->> 'key_events', '') || ' ' || coalesce(metadata ->> 'decisions', '') || ' '
         || coalesce(metadata ->> 'outcomes', '') || ' ' || coalesce(metadata ->> 'next_steps', '')), 'B')
    || setweight(to_tsvector('simple',
         regexp_replace(coalesce(summary, '') || ' ' || metadata::text, '[^[:alnum:]]+', ' ', 'g')), 'C')
"""

EVENT_TSV = """
    setweight(to_tsvector('english', replace(event_type, '_', ' ')), 'A')
    || setweight(jsonb_to_tsvector('english', event_data, '["string", "numeric"]'), 'B')
    || setweight(to_tsvector('simple',
         regexp_replace(event_type || ' ' || event_data::text || ' ' || metadata::text, '[^[:alnum:]]+', ' ', 'g')), 'C')
"""


def upgrade() -> None:
    op.execute(f"ALTER TABLE archon_sessions ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({SESSION_TSV}) STORED")
    op.execute(f"ALTER TABLE archon_session_events ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({EVENT_TSV}) STORED")
    op.create_index("ix_archon_sessions_search_tsv", "archon_sessions", ["search_tsv"], postgresql_using="gin")
    op.create_index("ix_archon_session_events_search_tsv", "archon_session_events", ["search_tsv"], postgresql_using="gin")
    # Recent-first scans with a time filter (search with since/until, purge).
    op.create_index("ix_archon_session_events_timestamp", "archon_session_events", ["timestamp"])


def downgrade() -> None:
    op.drop_index("ix_archon_session_events_timestamp", table_name="archon_session_events")
    op.drop_index("ix_archon_session_events_search_tsv", table_name="archon_session_events")
    op.drop_index("ix_archon_sessions_search_tsv", table_name="archon_sessions")
    op.execute("ALTER TABLE archon_session_events DROP COLUMN search_tsv")
    op.execute("ALTER TABLE archon_sessions DROP COLUMN search_tsv")
