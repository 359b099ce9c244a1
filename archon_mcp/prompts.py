"""MCP prompt `resume` and resource template `archon://sessions/{session_id}`, for clients that use them."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from archon_mcp.config import Settings
from archon_mcp.errors import ArchonError, NotFoundError, message_for
from archon_mcp.operations import get_session, resume_context
from archon_mcp.schemas import GetSessionRequest, ResumeContextRequest, answer_text
from archon_mcp.tools._runtime import app_of

SESSION_URI = "archon://sessions/{session_id}"


def register_prompts_and_resources(server: MCPServer, settings: Settings) -> None:
    agents = ", ".join(settings.agents)

    @server.prompt(
        name="resume",
        title="Resume work",
        description=f"Where you left off: the last session's summary and next steps, open tasks, recent "
        f"decisions, unresolved errors and related earlier sessions. Arguments: agent ({agents}), "
        "optional project (a name such as billing-api) or project_id (UUID).",
    )
    async def resume(
        ctx: Context, agent: str, project: str | None = None, project_id: str | None = None
    ) -> list[UserMessage]:
        try:
            app = await app_of(ctx)
            request = ResumeContextRequest.parse(
                app.settings, agent=agent, project=project or None, project_id=project_id or None, format="markdown"
            )
            context = await resume_context(app, request)
        except ArchonError as exc:  # a protocol error carrying our message (a plain one would be hidden)
            raise MCPError(code=INVALID_PARAMS, message=message_for(exc, "mcp")) from exc
        except ToolError as exc:  # the application failed to start (app_of)
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc
        return [UserMessage(answer_text(context))]

    @server.resource(
        SESSION_URI,
        name="session",
        title="Archon session",
        description=f"One session with its events (oldest first, at most {settings.max_event_limit}) as JSON.",
        mime_type="application/json",
    )
    async def session_resource(ctx: Context, session_id: str) -> str:
        try:
            app = await app_of(ctx)
            request = GetSessionRequest.parse(app.settings, session_id=session_id, event_limit=settings.max_event_limit)
            detail = await get_session(app, request)
        except NotFoundError as exc:
            raise ResourceNotFoundError(message_for(exc, "mcp")) from exc
        except ArchonError as exc:
            raise ResourceError(message_for(exc, "mcp")) from exc
        except ToolError as exc:
            raise ResourceError(str(exc)) from exc
        return detail.model_dump_json()
