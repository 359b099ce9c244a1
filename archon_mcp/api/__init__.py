"""The REST API under /api and the HTTP exposure rules (auth, allowed hosts and origins, body limits,
MCP session caps, the bind rule)."""

from archon_mcp.api._bodies import RequestBodyMiddleware
from archon_mcp.api._errors import error_response, response_for
from archon_mcp.api._mcp_sessions import McpSessionLimiter
from archon_mcp.api._routes import build_api
from archon_mcp.api._security import (
    BearerAuthMiddleware,
    HostCheckMiddleware,
    HostPolicy,
    exposure_problem,
    is_loopback,
    transport_security,
)

__all__ = [
    "BearerAuthMiddleware",
    "HostCheckMiddleware",
    "HostPolicy",
    "McpSessionLimiter",
    "RequestBodyMiddleware",
    "build_api",
    "error_response",
    "exposure_problem",
    "is_loopback",
    "response_for",
    "transport_security",
]
