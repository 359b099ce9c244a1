"""What every tool shares: its parameters generated from the operation's request model, reaching the
app from the MCP context, and turning the project's errors into tool errors."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, Field, WithJsonSchema

from archon_mcp.config import Settings
from archon_mcp.errors import ArchonError, message_for
from archon_mcp.schemas import Request, answer_text, describe, use_settings
from archon_mcp.startup import BackgroundApp

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

T = TypeVar("T")
R = TypeVar("R", bound=Request)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

_PRIMITIVES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def tool_error(exc: ArchonError) -> ToolError:
    return ToolError(message_for(exc, "mcp"))


async def app_of(ctx: Context) -> AppContext:
    """The application; while it is still starting in the background, wait for it."""
    # The lifespan yields the application, or (stdio's background start-up) its holder.
    holder = cast("AppContext | BackgroundApp", ctx.request_context.lifespan_context)
    if isinstance(holder, BackgroundApp):
        try:
            return await holder.get()
        except ArchonError as exc:
            raise tool_error(exc) from exc
    return holder


async def run_tool(awaitable: Awaitable[T]) -> T:
    """Await a service call; the project's errors become a ToolError the calling model can act on.
    (Driver errors were converted to the project's at the data boundary: `db.py`.)"""
    try:
        return await awaitable
    except ArchonError as exc:
        raise tool_error(exc) from exc


def as_tool_result(result: Any) -> Any:
    """An answer model as the SDK sends it, but with compact text: `structuredContent` is the model
    (checked against the tool's output schema by the SDK), the text block its compact JSON, or the
    text the answer was measured on (archon_resume_context's Markdown). The SDK alone would indent it."""
    if not isinstance(result, BaseModel) or isinstance(result, CallToolResult | InputRequiredResult):
        return result
    structured = result.model_dump(mode="json", by_alias=True)
    return CallToolResult(content=[TextContent(type="text", text=answer_text(result))], structured_content=structured)


def _wire_type(schema: dict[str, Any]) -> Any:
    """The Python type the SDK checks a parameter with before our model does (as a plain signature would)."""
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    options = schema.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        inner = _PRIMITIVES.get(other.get("type", ""))
        if inner is not None:
            return inner | None
    return Any  # objects and lists: our validators say what is wrong with them


def model_parameters(model: type[Request], settings: Settings) -> list[inspect.Parameter]:
    """The tool parameters of `model`'s fields, in order: type, JSON schema, default and description."""
    with use_settings(settings):
        properties = describe(model.model_json_schema()["properties"], settings)
    params = []
    for name, field in model.model_fields.items():
        schema = {k: v for k, v in properties[name].items() if k not in ("title", "description", "default")}
        annotation = Annotated[  # type: ignore[valid-type]
            _wire_type(schema), WithJsonSchema(schema), Field(description=describe(field.description, settings))
        ]
        default = inspect.Parameter.empty if field.is_required() else field.default
        params.append(
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default)
        )
    return params


def register_tool(
    server: MCPServer,
    settings: Settings,
    model: type[R],
    call: Callable[..., Awaitable[Any]],
    *,
    name: str,
    description: str,
    output: type,
    annotations: ToolAnnotations,
    extra: Sequence[inspect.Parameter] = (),
) -> None:
    """Register tool `name` whose parameters are `model`'s fields. `call(app, request, ctx, **extra)`
    gets the validated request; `extra` are further keyword-only parameters (SDK resolvers)."""
    extra_names = [p.name for p in extra]

    async def tool(ctx: Context, **arguments: Any) -> Any:
        extras = {key: arguments.pop(key) for key in extra_names}
        app = await app_of(ctx)

        async def body() -> Any:
            request = model.parse(app.settings, **arguments)
            return await call(app, request, ctx, **extras)

        return as_tool_result(await run_tool(body()))

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)
    params = [context, *model_parameters(model, settings), *extra]
    tool.__signature__ = inspect.Signature(params, return_annotation=output)  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": output}
    tool.__name__ = tool.__qualname__ = name
    server.add_tool(tool, name=name, description=inspect.cleandoc(description), annotations=annotations)
