"""Event tools: log what happens during a session."""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from archon_mcp.config import COMMON_EVENT_TYPES, Settings
from archon_mcp.schemas import EventOut
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
            Field(description=f"snake_case event type. Common: {common}. Custom types are allowed."),
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
