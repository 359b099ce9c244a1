"""What every tool shares: reaching the app from the MCP context, and turning failures into tool errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import WithJsonSchema
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from archon_mcp.app import AppContext
from archon_mcp.errors import ArchonError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Advertised as a JSON object, but checked by the service so that a wrong type gets our
# message ("event_data must be a JSON object ... wrap the value") rather than a pydantic dump.
JsonObject = Annotated[Any, WithJsonSchema({"type": "object", "additionalProperties": True})]
OptionalJsonObject = Annotated[
    Any, WithJsonSchema({"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]})
]


def app_of(ctx: Context) -> AppContext:
    return ctx.request_context.lifespan_context


async def run_tool(awaitable: Awaitable[T]) -> T:
    """Await a service call; expected failures become a ToolError the calling model can act on."""
    try:
        return await awaitable
    except ArchonError as exc:
        raise ToolError(str(exc)) from exc
    except (OperationalError, InterfaceError, PoolTimeoutError, OSError, TimeoutError) as exc:
        log.warning("database unavailable: %s", exc)
        raise ToolError(
            "the archon database is unavailable right now (PostgreSQL did not answer); nothing was changed. "
            "Retry in a few seconds."
        ) from exc
    except DBAPIError as exc:
        log.exception("database error")
        raise ToolError(f"the database rejected the request: {exc.orig}") from exc
