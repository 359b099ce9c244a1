"""A query that names an event's value: `archon_names_value(event_data, query)`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

True when one of the event's short top-level string values (at most 40 characters: a name, an id,
a file, a status; of its first 64 keys) appears in the query as a whole phrase, both split at every run of
non-alphanumeric characters (`archon_split` of migration 0004) and compared without regard to case:
`{"speaker": "Caroline"}` for "What did Caroline buy?", `{"file": "auth.py"}` for "errors in
auth.py", `{"task": "TASK-1482"}` for "status of task-1482"; not a value of stop words only
(`{"passed": "no"}` for "no errors"). Hybrid search ranks such an event
higher (services/_ranking.py, NAMED_VALUE_BONUS). Computed per candidate at query time, so it needs
no column, no backfill, and holds for rows written before this migration.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_VALUE_CHARS = 40
MAX_VALUES = 64  # of an event's keys, in jsonb's order: a hostile event with thousands costs no more

FUNCTION = f"""
CREATE FUNCTION archon_names_value(data jsonb, query text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(data) = 'object' THEN EXISTS (
    SELECT 1
    FROM (SELECT * FROM jsonb_each(data) LIMIT {MAX_VALUES}) AS kv(key, value)
    CROSS JOIN LATERAL (SELECT lower(btrim(archon_split(kv.value #>> '{{}}'))) AS words) AS v
    WHERE jsonb_typeof(kv.value) = 'string' AND length(kv.value #>> '{{}}') <= {MAX_VALUE_CHARS}
      AND length(v.words) >= 2
      AND position(' ' || v.words || ' ' IN ' ' || lower(btrim(archon_split(query))) || ' ') > 0
      AND length(archon_lexemes(v.words)) > 0) ELSE false END
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION archon_names_value(jsonb, text)")
