"""One HTTP process: the MCP endpoint (streamable HTTP at /mcp, or SSE at /sse + /messages/), the REST API
under /api, and the session browser at /. Auth and Host checks wrap all of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from archon_mcp._redaction import install_log_redaction
from archon_mcp.api import (
    BearerAuthMiddleware,
    HostCheckMiddleware,
    HostPolicy,
    McpSessionLimiter,
    RequestBodyMiddleware,
    build_api,
    error_response,
    is_loopback,
    transport_security,
)
from archon_mcp.app import AppContext
from archon_mcp.config import Settings

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
HttpTransport = Literal["http", "sse"]


def build_http_app(
    settings: Settings, app: AppContext, server: MCPServer[AppContext], *, transport: HttpTransport = "http"
) -> Starlette:
    """The ASGI app for `archon-mcp serve --transport http|sse`. Its lifespan runs the MCP session manager."""
    security = transport_security(settings)
    if transport == "http":
        mcp_app = server.streamable_http_app(
            transport_security=security,
            host=settings.host,
            max_request_body_size=settings.max_mcp_body_bytes,
            session_idle_timeout=settings.mcp_session_idle_timeout,
            # McpSessionLimiter keeps the count under mcp_max_sessions by ending idle sessions; the SDK's
            # own cap (which refuses instead) is only a backstop with room for requests in flight.
            max_sessions=settings.mcp_max_sessions + settings.mcp_max_sessions_per_client,
        )
    else:
        mcp_app = server.sse_app(
            transport_security=security, host=settings.host, max_request_body_size=settings.max_mcp_body_bytes
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if transport == "http":
            async with server.session_manager.run():
                yield
        else:
            yield

    async def index(_: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def docs(_: Request) -> Response:
        return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/") or request.url.path == "/api":
            return error_response(exc.status_code, "http_error", exc.detail, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)

    routes: list[BaseRoute] = [
        *mcp_app.routes,
        Mount("/api", app=build_api(app)),
        Route("/", index, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    # Outermost first: Host/Origin, then the token, then bodies (read within their limits), then sessions.
    middleware = [Middleware(HostCheckMiddleware, policy=HostPolicy(settings))]
    token = settings.resolved_auth_token
    if token is not None:
        middleware.append(Middleware(BearerAuthMiddleware, token=token))
    middleware.append(
        Middleware(
            RequestBodyMiddleware,
            api_limit=settings.max_api_body_bytes,
            mcp_limit=settings.max_mcp_body_bytes,
            # The body object is one level above event_data / metadata, which may nest max_json_depth levels.
            api_max_depth=settings.max_json_depth + 1,
        )
    )
    if transport == "http":
        middleware.append(
            Middleware(
                McpSessionLimiter,
                terminate=server.session_manager.handle_request,
                max_total=settings.mcp_max_sessions,
                max_per_client=settings.mcp_max_sessions_per_client,
                idle_timeout=settings.mcp_session_idle_timeout,
            )
        )
    return Starlette(
        routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers={HTTPException: http_error}
    )


def uvicorn_config(settings: Settings, http_app: ASGIApp) -> uvicorn.Config:
    """uvicorn's settings for serving: its loggers (the access log too) go to our stderr handlers
    through the redaction filter, so no query string value or bearer token is ever logged."""
    import uvicorn

    install_log_redaction()
    return uvicorn.Config(
        http_app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep ours (cli sets up stderr); uvicorn's own would log the access log to stdout
        lifespan="on",
        server_header=False,
    )


async def serve_http(
    settings: Settings,
    app: AppContext,
    server: MCPServer[AppContext],
    *,
    transport: HttpTransport,
    stopping: asyncio.Event | None = None,
) -> None:
    """Run the HTTP app with uvicorn until interrupted (uvicorn's own SIGTERM/SIGINT handling) or
    until `stopping` is set."""
    import uvicorn

    http_app = build_http_app(settings, app, server, transport=transport)
    config = uvicorn_config(settings, http_app)
    where = f"http://{'[' + settings.host + ']' if ':' in settings.host else settings.host}:{settings.port}"
    endpoint = "/mcp" if transport == "http" else "/sse"
    auth = "bearer token required" if settings.resolved_auth_token else "no auth token"
    log.warning("serving MCP at %s%s, REST API at %s/api, web UI at %s/ (%s)", where, endpoint, where, where, auth)
    if settings.resolved_auth_token is None and not is_loopback(settings.host):
        log.warning("--insecure: %s is reachable from the network WITHOUT authentication", settings.host)
    http_server = uvicorn.Server(config)
    if stopping is None:
        await http_server.serve()
        return

    async def stop_when_asked() -> None:
        await stopping.wait()
        http_server.should_exit = True

    watcher = asyncio.ensure_future(stop_when_asked())
    try:
        await http_server.serve()
    finally:
        watcher.cancel()
