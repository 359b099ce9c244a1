"""Keyword index for BM25 ranking, with each event indexed in its context.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

One lexeme space for documents and queries: the text is split at every run of non-alphanumeric
characters (so `psycopg.errors.UndefinedTable`, `TASK-1482` and `session_service.py` become their
parts) and then stemmed with the `english` configuration (stop words dropped). The query goes
through the same two steps (`archon_query_lexemes`), so a query term is a document lexeme. BM25
needs term frequencies and document lengths, which a `tsvector` with positions carries; the
document frequencies are counted at query time (repositories/search.py).

Events are indexed with a bounded context (weight B) after their own text (weight A):
- the previous event of the same session (its type and values, at most 500 characters): an answer
  depends on its question, a fix on the error before it;
- the session's descriptive metadata (`title`, `name`, `project`, `task`, `feature`, ... at most
  300 characters, as they were when the event was written);
- the event's own metadata values.
The stored `event_data` is unchanged. `search_tsv` on events is therefore no longer a generated
column (it reads other rows) but is kept by a trigger, on every write path (tools, import, COPY).
The embedding worker embeds the event's own text followed by the same context
(`archon_event_context`), so both indexes see the same neighbourhood.

Existing rows get the new keyword index here. Their vectors keep their old text until
`archon-mcp reembed --all` re-embeds them (in the background of that command, not at start-up).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREVIOUS_EVENT_CHARS = 500
SESSION_DESCRIPTOR_CHARS = 300
# Session metadata keys that describe what the work was about (values indexed as context).
DESCRIPTOR_KEYS = (
    "title", "name", "project", "project_name", "repo", "repository", "branch", "task", "feature",
    "topic", "goal", "description",
)  # fmt: skip

FUNCTIONS = f"""
CREATE FUNCTION archon_split(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT regexp_replace(t, '[^[:alnum:]]+', ' ', 'g') $$;

CREATE FUNCTION archon_lexemes(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_tsvector('pg_catalog.english'::regconfig, coalesce(archon_split(t), '')) $$;

CREATE FUNCTION archon_query_lexemes(q text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT tsvector_to_array(archon_lexemes(q)) $$;

CREATE FUNCTION archon_json_text(data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(string_agg(v #>> '{{}}', ' '), '') FROM jsonb_path_query(data, 'strict $.**') AS v
  WHERE jsonb_typeof(v) IN ('string', 'number')
$$;

CREATE FUNCTION archon_event_own_text(event_type text, event_data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT replace(event_type, '_', ' ') || ': ' || archon_json_text(event_data) $$;

CREATE FUNCTION archon_session_descriptor(metadata jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(metadata) = 'object' THEN left(coalesce(
    (SELECT string_agg(value, ' ' ORDER BY key) FROM jsonb_each_text(metadata)
     WHERE key IN ({", ".join(f"'{k}'" for k in DESCRIPTOR_KEYS)})), ''), {SESSION_DESCRIPTOR_CHARS}) ELSE '' END
$$;

-- VOLATILE on purpose: called from the row trigger of a multi-row INSERT, it must see the rows
-- that statement inserted before this one (a batch's previous event).
CREATE FUNCTION archon_event_context(p_session uuid, p_ts timestamptz, p_id uuid, p_metadata jsonb) RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT concat_ws(E'\\n',
    (SELECT left(archon_event_own_text(e.event_type, e.event_data), {PREVIOUS_EVENT_CHARS})
     FROM archon_session_events AS e
     WHERE e.session_id = p_session AND (e."timestamp", e.id) < (p_ts, p_id)
     ORDER BY e."timestamp" DESC, e.id DESC LIMIT 1),
    nullif((SELECT archon_session_descriptor(s.metadata) FROM archon_sessions AS s WHERE s.id = p_session), ''),
    nullif(archon_json_text(p_metadata), ''))
$$;

CREATE FUNCTION archon_event_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_tsv := setweight(archon_lexemes(archon_event_own_text(NEW.event_type, NEW.event_data)), 'A')
    || setweight(archon_lexemes(archon_event_context(NEW.session_id, NEW."timestamp", NEW.id, NEW.metadata)), 'B');
  RETURN NEW;
END
$$;
"""

SESSION_TSV = """
    setweight(archon_lexemes(summary), 'A')
    || setweight(archon_lexemes(
         coalesce(metadata ->> 'key_events', '') || ' ' || coalesce(metadata ->> 'decisions', '') || ' '
         || coalesce(metadata ->> 'outcomes', '') || ' ' || coalesce(metadata ->> 'next_steps', '') || ' '
         || archon_session_descriptor(metadata)), 'B')
"""

# 0002's definitions, for the downgrade.
OLD_SESSION_TSV = """
    setweight(to_tsvector('english', coalesce(summary, '')), 'A')
    || setweight(to_tsvector('english',
         coalesce(metadata ->> 'key_events', '') || ' ' || coalesce(metadata ->> 'decisions', '') || ' '
         || coalesce(metadata ->> 'outcomes', '') || ' ' || coalesce(metadata ->> 'next_steps', '')), 'B')
    || setweight(to_tsvector('simple',
         regexp_replace(coalesce(summary, '') || ' ' || metadata::text, '[^[:alnum:]]+', ' ', 'g')), 'C')
"""
OLD_EVENT_TSV = """
    setweight(to_tsvector('english', replace(event_type, '_', ' ')), 'A')
    || setweight(jsonb_to_tsvector('english', event_data, '["string", "numeric"]'), 'B')
    || setweight(to_tsvector('simple',
         regexp_replace(event_type || ' ' || event_data::text || ' ' || metadata::text, '[^[:alnum:]]+', ' ', 'g')), 'C')
"""


def upgrade() -> None:
    op.execute("SET LOCAL statement_timeout = 0")
    for statement in FUNCTIONS.split("\n\n"):
        if statement.strip():
            op.execute(statement)
    # Sessions: still a generated column (it reads only its own row), over the new lexeme space.
    op.execute("ALTER TABLE archon_sessions DROP COLUMN search_tsv")
    op.execute(f"ALTER TABLE archon_sessions ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({SESSION_TSV}) STORED")
    op.create_index("ix_archon_sessions_search_tsv", "archon_sessions", ["search_tsv"], postgresql_using="gin")
    # Events: a plain column kept by the trigger; existing rows are indexed in order, each after the
    # one before it in its session, by the same function.
    op.execute("ALTER TABLE archon_session_events DROP COLUMN search_tsv")
    op.execute("ALTER TABLE archon_session_events ADD COLUMN search_tsv tsvector")
    op.execute(
        """
        UPDATE archon_session_events AS e
        SET search_tsv = setweight(archon_lexemes(archon_event_own_text(e.event_type, e.event_data)), 'A')
            || setweight(archon_lexemes(archon_event_context(e.session_id, e."timestamp", e.id, e.metadata)), 'B')
        """
    )
    op.execute(
        "CREATE TRIGGER archon_event_tsv BEFORE INSERT OR UPDATE OF event_type, event_data, metadata "
        "ON archon_session_events FOR EACH ROW EXECUTE FUNCTION archon_event_tsv()"
    )
    op.create_index(
        "ix_archon_session_events_search_tsv", "archon_session_events", ["search_tsv"], postgresql_using="gin"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER archon_event_tsv ON archon_session_events")
    op.execute("ALTER TABLE archon_session_events DROP COLUMN search_tsv")
    op.execute(
        f"ALTER TABLE archon_session_events ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({OLD_EVENT_TSV}) STORED"
    )
    op.create_index(
        "ix_archon_session_events_search_tsv", "archon_session_events", ["search_tsv"], postgresql_using="gin"
    )
    op.execute("ALTER TABLE archon_sessions DROP COLUMN search_tsv")
    op.execute(
        f"ALTER TABLE archon_sessions ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({OLD_SESSION_TSV}) STORED"
    )
    op.create_index("ix_archon_sessions_search_tsv", "archon_sessions", ["search_tsv"], postgresql_using="gin")
    for name in (
        "archon_event_tsv()",
        "archon_event_context(uuid, timestamptz, uuid, jsonb)",
        "archon_session_descriptor(jsonb)",
        "archon_event_own_text(text, jsonb)",
        "archon_json_text(jsonb)",
        "archon_query_lexemes(text)",
        "archon_lexemes(text)",
        "archon_split(text)",
    ):
        op.execute(f"DROP FUNCTION {name}")
