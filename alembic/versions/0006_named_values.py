"""Each event's short values, for the queries that name one (`named_values`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

An event's `named_values` holds, split and lower-cased the way the keyword index splits
(`archon_words`: `archon_split` of migration 0004, at every run of non-alphanumeric characters),
each of its short top-level string values: at most 40 characters, of its first 64 keys in jsonb's
order (shortest keys first), and not of stop words only. `{"speaker": "Caroline", "file":
"src/auth.py", "task": "TASK-1482", "passed": "no"}` -> `{caroline, src auth py, task 1482}`. The
trigger of migration 0004 keeps it on every write path (tools, batches, import, COPY), beside
`search_tsv`.

A query names such a value when the value's words are consecutive words of the query, split the
same way: "What did Caroline buy?" names `caroline`, "status of task-1482" names `task 1482`.
Hybrid search ranks those events higher (services/_ranking.py, NAMED_VALUE_BONUS); per candidate
that is a substring test of each of its few values in the query's words (split once per
statement), so it costs about 2 us a candidate, and no more for a long query.

Existing rows are filled here (about 10 us a row to compute; only rows with a short value are
written).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_VALUE_CHARS = 40
MAX_VALUES = 64  # keys read per event: a hostile event with thousands costs no more

FUNCTIONS = f"""
CREATE FUNCTION archon_words(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT lower(btrim(archon_split(t))) $$;

CREATE FUNCTION archon_named_values(data jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(data) = 'object' THEN coalesce((
    SELECT array_agg(DISTINCT w.words)
    FROM (SELECT * FROM jsonb_each(data) LIMIT {MAX_VALUES}) AS kv(key, value)
    CROSS JOIN LATERAL (SELECT archon_words(kv.value #>> '{{}}') AS words) AS w
    WHERE jsonb_typeof(kv.value) = 'string' AND length(kv.value #>> '{{}}') <= {MAX_VALUE_CHARS}
      AND length(w.words) >= 2
      AND length(archon_lexemes(w.words)) > 0), '{{}}') ELSE '{{}}' END
$$;
"""


def trigger_function(named_values: bool) -> str:
    """0004's trigger function, and with `named_values` the line that keeps the new column."""
    keep = "\n  NEW.named_values := archon_named_values(NEW.event_data);" if named_values else ""
    return f"""
CREATE OR REPLACE FUNCTION archon_event_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_tsv := setweight(archon_lexemes(archon_event_own_text(NEW.event_type, NEW.event_data)), 'A')
    || setweight(archon_lexemes(archon_event_context(NEW.session_id, NEW."timestamp", NEW.id, NEW.metadata)), 'B');{keep}
  RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    for statement in FUNCTIONS.split("\n\n"):
        if statement.strip():
            op.execute(statement)
    # A constant default: added without rewriting the table; then only rows with values are written.
    op.execute("ALTER TABLE archon_session_events ADD COLUMN named_values text[] NOT NULL DEFAULT '{}'")
    op.execute(
        """
        UPDATE archon_session_events AS e SET named_values = v.named
        FROM (SELECT id, archon_named_values(event_data) AS named FROM archon_session_events) AS v
        WHERE v.id = e.id AND v.named <> '{}'
        """
    )
    op.execute(trigger_function(named_values=True))


def downgrade() -> None:
    op.execute(trigger_function(named_values=False))
    op.execute("ALTER TABLE archon_session_events DROP COLUMN named_values")
    for name in ("archon_named_values(jsonb)", "archon_words(text)"):
        op.execute(f"DROP FUNCTION {name}")
