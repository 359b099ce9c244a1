"""Event tools: log what happens during a session."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field, WithJsonSchema

from archon_mcp.config import COMMON_EVENT_TYPES, Settings
from archon_mcp.schemas import EventOut, EventsAdded
from archon_mcp.tools._runtime import JsonObject, OptionalJsonObject, app_of, run_tool
from archon_mcp.tools.sessions import WRITE, SessionId


def register(server: MCPServer, settings: Settings) -> None:
    common = ", ".join(COMMON_EVENT_TYPES)

    @server.tool(annotations=WRITE)
    async def archon_add_event(
        ctx: Context,
        session_id: SessionId,
        event_type: Annotated[
            str,
            Field(
                description="Event type in snake_case: lowercase letters, digits and underscores, starting with "
                f"a letter, at most {settings.max_event_type_chars} characters. Common: {common}. Custom types "
                "are allowed."
            ),
        ],
        event_data: Annotated[
            JsonObject,
            Field(
                description='JSON object describing the event, e.g. {"task_id": "123", "title": "..."} or '
                f'{{"decision": "...", "rationale": "..."}}. At most {settings.max_json_bytes} bytes.'
            ),
        ],
        metadata: Annotated[
            OptionalJsonObject,
            Field(description='Optional JSON object, e.g. {"file": "service.py", "complexity": "high"}.'),
        ] = None,
    ) -> EventOut:
        """Log a significant event (task created/completed, decision made, error hit, pattern seen,
        context shared) to an active session. The event is stored at once and embedded for
        semantic search in the background. Fails if the session has ended."""
        return await run_tool((await app_of(ctx)).sessions.add_event(session_id, event_type, event_data, metadata))

    @server.tool(annotations=WRITE)
    async def archon_add_events(
        ctx: Context,
        session_id: SessionId,
        events: Annotated[
            Any,
            WithJsonSchema(
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.max_batch_events,
                    "items": {"type": "object", "additionalProperties": True},
                }
            ),
            Field(
                description=f"1 to {settings.max_batch_events} objects, each "
                '{"event_type": "...", "event_data": {...}, "metadata": {...} (optional)}, '
                "with the same rules as archon_add_event."
            ),
        ],
    ) -> EventsAdded:
        """Log several events to an active session in one call (a burst of steps, a buffered log):
        all are stored or none, in the order given, and embedded in the background. Faster than
        one archon_add_event per event."""
        return await run_tool((await app_of(ctx)).sessions.add_events(session_id, events))
