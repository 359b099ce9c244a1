"""What every tool shares: reaching the app from the MCP context, and turning failures into tool errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import WithJsonSchema

from archon_mcp.errors import ArchonError
from archon_mcp.startup import BackgroundApp

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

log = logging.getLogger(__name__)
T = TypeVar("T")

# Advertised as a JSON object, but checked by the service so that a wrong type gets our
# message ("event_data must be a JSON object ... wrap the value") rather than a pydantic dump.
JsonObject = Annotated[Any, WithJsonSchema({"type": "object", "additionalProperties": True})]
OptionalJsonObject = Annotated[
    Any, WithJsonSchema({"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]})
]


async def app_of(ctx: Context) -> AppContext:
    """The application; while it is still starting in the background, wait for it."""
    holder = ctx.request_context.lifespan_context
    if isinstance(holder, BackgroundApp):
        try:
            return await holder.get()
        except ArchonError as exc:
            raise ToolError(str(exc)) from exc
    return holder


async def run_tool(awaitable: Awaitable[T]) -> T:
    """Await a service call; expected failures become a ToolError the calling model can act on."""
    try:
        return await awaitable
    except ArchonError as exc:
        raise ToolError(str(exc)) from exc
    except (OSError, TimeoutError) as exc:
        raise _unavailable(exc) from exc
    except Exception as exc:
        # SQLAlchemy is imported here, not at start-up: the tools load before the database does.
        from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
        from sqlalchemy.exc import TimeoutError as PoolTimeoutError

        if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
            raise _unavailable(exc) from exc
        if isinstance(exc, DBAPIError):
            log.exception("database error")
            raise ToolError(f"the database rejected the request: {exc.orig}") from exc
        raise


def _unavailable(exc: BaseException) -> ToolError:
    log.warning("database unavailable: %s", exc)
    return ToolError(
        "the archon database is unavailable right now (PostgreSQL did not answer); nothing was changed. "
        "Retry in a few seconds."
    )
