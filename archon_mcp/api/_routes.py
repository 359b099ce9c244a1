"""The REST API: thin handlers over the same services as the MCP tools, described once for OpenAPI.

Each endpoint declares its parameters, body and response model; the handler converts query text to
Python values and calls a service, which validates exactly as it does for the tools."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from archon_mcp import __version__
from archon_mcp.api._errors import error_response, response_for
from archon_mcp.app import AppContext
from archon_mcp.config import COMMON_EVENT_TYPES
from archon_mcp.errors import InvalidInputError
from archon_mcp.schemas import (
    ActiveSessions,
    EventOut,
    EventSearchResults,
    LastSession,
    RecentSessions,
    SessionCount,
    SessionDetail,
    SessionOut,
    SessionSearchResults,
    StoreStats,
)
from archon_mcp.services._validation import check_nesting, nesting_message
from archon_mcp.services.activity import ActivityReport, ActivityService, SessionBrowsePage
from archon_mcp.services.maintenance import store_stats

# --- request bodies and small responses (documentation; the services do the validation) ----------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSessionBody(_Body):
    agent: str = Field(description="One of the allowed agents (see GET /api/meta).")
    project_id: str | None = Field(default=None, description="UUID of a project to link the session to.")
    metadata: dict[str, Any] | None = None


class EndSessionBody(_Body):
    summary: str | None = Field(default=None, description="A specific, searchable summary of the session.")


class UpdateSummaryBody(_Body):
    summary: str
    metadata: dict[str, Any] | None = Field(
        default=None, description="Merged into the session's metadata (key_events, decisions, outcomes, next_steps)."
    )


class AddEventBody(_Body):
    event_type: str = Field(description="snake_case, e.g. task_created or decision_made.")
    event_data: dict[str, Any]
    metadata: dict[str, Any] | None = None


class Limits(BaseModel):
    max_page_size: int
    max_event_limit: int
    max_search_results: int


class Meta(BaseModel):
    version: str
    agents: list[str]
    event_types: list[str] = Field(description="Common event types; any snake_case type is accepted.")
    limits: Limits
    auth_required: bool


class Projects(BaseModel):
    projects: list[str] = Field(description="Project ids seen in sessions, most recently used first.")


class ErrorDetail(BaseModel):
    type: str = Field(description="invalid_input, not_found, conflict, database_unavailable, unauthorized, ...")
    message: str = Field(description="What was wrong and how to fix it.")


class ErrorBody(BaseModel):
    error: ErrorDetail


# --- endpoint descriptions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "string", "integer", "number", "boolean", "date-time", "uuid"
    description: str
    required: bool = False
    default: Any = None
    where: str = "query"  # or "path"


Handler = Callable[["Call"], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # relative to /api
    summary: str
    handler: Handler
    response: type[BaseModel]
    params: tuple[Param, ...] = ()
    body: type[_Body] | None = None
    status: int = 200
    tag: str = "sessions"
    errors: tuple[int, ...] = field(default=(400,))


class Call:
    """One request's typed view: query/path parameters and body, parsed against the endpoint's declaration."""

    def __init__(self, request: Request, endpoint: Endpoint, app: AppContext, activity: ActivityService) -> None:
        self.request = request
        self.endpoint = endpoint
        self.app = app
        self.activity = activity
        self.body: dict[str, Any] = {}
        declared = {p.name for p in endpoint.params if p.where == "query"}
        unknown = sorted(set(request.query_params) - declared)
        if unknown:
            allowed = ", ".join(sorted(declared)) or "none"
            raise InvalidInputError(f"unknown query parameter {unknown[0]!r}; this endpoint takes: {allowed}")

    def _param(self, name: str) -> Param:
        return next(p for p in self.endpoint.params if p.name == name)

    def path(self, name: str) -> str:
        return self.request.path_params[name]

    def text(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value is not None and value != "" else self._param(name).default

    def integer(self, name: str) -> int:
        value = self.request.query_params.get(name)
        if value is None or value == "":
            return self._param(name).default
        try:
            return int(value)
        except ValueError:
            raise InvalidInputError(f"{name} must be a whole number (got {value[:40]!r})") from None

    def number(self, name: str) -> float:
        value = self.request.query_params.get(name)
        if value is None or value == "":
            return self._param(name).default
        try:
            return float(value)
        except ValueError:
            raise InvalidInputError(f"{name} must be a number (got {value[:40]!r})") from None

    def boolean(self, name: str) -> bool | None:
        value = self.request.query_params.get(name)
        if value is None or value == "":
            return self._param(name).default
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise InvalidInputError(f"{name} must be true or false (got {value[:40]!r})")

    async def read_body(self) -> dict[str, Any]:
        raw = await self.request.body()  # RequestBodyMiddleware has capped it at ARCHON_MAX_API_BODY_BYTES
        # The body object is one level above event_data / metadata, which may nest max_json_depth levels.
        max_depth = self.app.settings.max_json_depth + 1
        hint = f" (event_data and metadata may nest {max_depth - 1} levels: ARCHON_MAX_JSON_DEPTH)"
        try:
            body = json.loads(raw) if raw.strip() else {}
        except RecursionError:
            raise InvalidInputError(nesting_message("the request body", max_depth, hint)) from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError("the request body is not valid JSON; send a JSON object") from None
        check_nesting(body, "the request body", max_depth, hint)
        if not isinstance(body, dict):
            raise InvalidInputError(f"the request body must be a JSON object (got {type(body).__name__})")
        assert self.endpoint.body is not None
        fields = self.endpoint.body.model_fields
        unknown = sorted(set(body) - set(fields))
        if unknown:
            raise InvalidInputError(f"unknown field {unknown[0]!r}; this endpoint takes: {', '.join(fields)}")
        self.body = body
        return body


# --- handlers -----------------------------------------------------------------------------------

_SESSION_ID = Param("session_id", "uuid", "Session UUID.", required=True, where="path")
_AGENT_PATH = Param("agent", "string", "Agent name.", required=True, where="path")
_AGENT = Param("agent", "string", "Only this agent's sessions.")
_PROJECT = Param("project_id", "uuid", "Only sessions linked to this project.")
_SINCE = Param("since", "date-time", "Started at or after this ISO-8601 time (a date means midnight UTC).")
_UNTIL = Param("until", "date-time", "Started before this ISO-8601 time.")
_THRESHOLD = Param("threshold", "number", "Minimum calibrated similarity, 0..1.", default=0.7)


async def _meta(c: Call) -> Meta:
    s = c.app.settings
    return Meta(
        version=__version__,
        agents=list(s.agents),
        event_types=list(COMMON_EVENT_TYPES),
        limits=Limits(
            max_page_size=s.max_page_size, max_event_limit=s.max_event_limit, max_search_results=s.max_search_results
        ),
        auth_required=s.resolved_auth_token is not None,
    )


async def _stats(c: Call) -> StoreStats:
    return await store_stats(c.app.database, c.app.embedder, c.app.worker)


async def _activity(c: Call) -> ActivityReport:
    return await c.activity.activity(days=c.integer("days"), agent=c.text("agent"), project_id=c.text("project_id"))


async def _projects(c: Call) -> Projects:
    return Projects(projects=await c.activity.projects())


async def _list_sessions(c: Call) -> SessionBrowsePage:
    active = c.boolean("active")
    return await c.activity.browse_sessions(
        agent=c.text("agent"),
        project_id=c.text("project_id"),
        since=c.text("since"),
        until=c.text("until"),
        status=None if active is None else ("active" if active else "ended"),
        limit=c.integer("limit"),
        offset=c.integer("offset"),
    )


async def _active_sessions(c: Call) -> ActiveSessions:
    return await c.app.sessions.get_active_sessions(
        agent=c.text("agent"), project_id=c.text("project_id"), limit=c.integer("limit"), offset=c.integer("offset")
    )


async def _create_session(c: Call) -> SessionOut:
    body = await c.read_body()
    return await c.app.sessions.create_session(
        agent=body.get("agent"), project_id=body.get("project_id"), metadata=body.get("metadata")
    )


async def _get_session(c: Call) -> SessionDetail:
    return await c.app.sessions.get_session(
        c.path("session_id"), event_limit=c.integer("event_limit"), event_offset=c.integer("event_offset")
    )


async def _end_session(c: Call) -> SessionOut:
    body = await c.read_body()
    return await c.app.sessions.end_session(c.path("session_id"), summary=body.get("summary"))


async def _update_summary(c: Call) -> SessionOut:
    body = await c.read_body()
    return await c.app.sessions.update_session_summary(
        c.path("session_id"), summary=body.get("summary"), metadata=body.get("metadata")
    )


async def _add_event(c: Call) -> EventOut:
    body = await c.read_body()
    return await c.app.sessions.add_event(
        c.path("session_id"),
        event_type=body.get("event_type"),
        event_data=body.get("event_data"),
        metadata=body.get("metadata"),
    )


async def _last_session(c: Call) -> LastSession:
    return await c.app.sessions.get_last_session(c.path("agent"), event_limit=c.integer("event_limit"))


async def _count_sessions(c: Call) -> SessionCount:
    return await c.app.sessions.count_sessions(c.path("agent"), days=c.integer("days"))


async def _recent_sessions(c: Call) -> RecentSessions:
    return await c.app.sessions.get_recent_sessions(c.path("agent"), days=c.integer("days"), limit=c.integer("limit"))


async def _search_sessions(c: Call) -> SessionSearchResults:
    return await c.app.search.search_sessions(
        query=c.text("q"),
        limit=c.integer("limit"),
        threshold=c.number("threshold"),
        agent=c.text("agent"),
        project_id=c.text("project_id"),
        since=c.text("since"),
        until=c.text("until"),
        active_only=bool(c.boolean("active_only")),
    )


async def _search_events(c: Call) -> EventSearchResults:
    return await c.app.search.search_events(
        query=c.text("q"),
        limit=c.integer("limit"),
        threshold=c.number("threshold"),
        session_id=c.text("session_id"),
        event_type=c.text("event_type"),
        agent=c.text("agent"),
        project_id=c.text("project_id"),
        since=c.text("since"),
        until=c.text("until"),
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/meta", "Server version, allowed agents, common event types, limits", _meta, Meta, tag="meta"),
    Endpoint("GET", "/stats", "Counts of sessions and events, the embedding backlog", _stats, StoreStats, tag="meta"),
    Endpoint(
        "GET",
        "/activity",
        "Sessions and events per UTC day per agent over the last `days` days",
        _activity,
        ActivityReport,
        params=(Param("days", "integer", "Window in days, today included (1..366).", default=30), _AGENT, _PROJECT),
        tag="activity",
    ),
    Endpoint("GET", "/projects", "Project ids seen in sessions", _projects, Projects, tag="activity"),
    Endpoint(
        "GET",
        "/sessions",
        "List sessions newest first, with event counts, filtered and paginated",
        _list_sessions,
        SessionBrowsePage,
        params=(
            _AGENT,
            _PROJECT,
            _SINCE,
            _UNTIL,
            Param("active", "boolean", "true: only active sessions; false: only ended ones; omitted: both."),
            Param("limit", "integer", "Page size.", default=20),
            Param("offset", "integer", "Sessions to skip.", default=0),
        ),
    ),
    Endpoint(
        "POST",
        "/sessions",
        "Start a session",
        _create_session,
        SessionOut,
        body=CreateSessionBody,
        status=201,
    ),
    Endpoint(
        "GET",
        "/sessions/active",
        "Sessions not yet ended, with event counts",
        _active_sessions,
        ActiveSessions,
        params=(
            _AGENT,
            _PROJECT,
            Param("limit", "integer", "Page size.", default=50),
            Param("offset", "integer", "Sessions to skip.", default=0),
        ),
    ),
    Endpoint(
        "GET",
        "/sessions/{session_id}",
        "A session with a window of its events, oldest first",
        _get_session,
        SessionDetail,
        params=(
            _SESSION_ID,
            Param("event_limit", "integer", "Events per page.", default=100),
            Param("event_offset", "integer", "Index of the first event, oldest first.", default=0),
        ),
        errors=(400, 404),
    ),
    Endpoint(
        "POST",
        "/sessions/{session_id}/end",
        "End a session, optionally with its summary (a session ends once)",
        _end_session,
        SessionOut,
        params=(_SESSION_ID,),
        body=EndSessionBody,
        errors=(400, 404, 409),
    ),
    Endpoint(
        "PUT",
        "/sessions/{session_id}/summary",
        "Replace the summary and merge metadata (re-embeds the session)",
        _update_summary,
        SessionOut,
        params=(_SESSION_ID,),
        body=UpdateSummaryBody,
        errors=(400, 404),
    ),
    Endpoint(
        "POST",
        "/sessions/{session_id}/events",
        "Log an event in an active session",
        _add_event,
        EventOut,
        params=(_SESSION_ID,),
        body=AddEventBody,
        status=201,
        errors=(400, 404, 409),
    ),
    Endpoint(
        "GET",
        "/agents/{agent}/last-session",
        "The agent's latest session with its latest events",
        _last_session,
        LastSession,
        params=(_AGENT_PATH, Param("event_limit", "integer", "Latest events to include.", default=50)),
        tag="agents",
    ),
    Endpoint(
        "GET",
        "/agents/{agent}/count",
        "How many sessions the agent started in the last `days` days",
        _count_sessions,
        SessionCount,
        params=(_AGENT_PATH, Param("days", "integer", "Window in days.", default=30)),
        tag="agents",
    ),
    Endpoint(
        "GET",
        "/agents/{agent}/recent",
        "The agent's sessions of the last `days` days with event counts",
        _recent_sessions,
        RecentSessions,
        params=(
            _AGENT_PATH,
            Param("days", "integer", "Window in days.", default=7),
            Param("limit", "integer", "Most sessions to return.", default=20),
        ),
        tag="agents",
    ),
    Endpoint(
        "GET",
        "/search/sessions",
        "Search sessions by meaning (summary and key events)",
        _search_sessions,
        SessionSearchResults,
        params=(
            Param("q", "string", "What to look for, in plain words.", required=True),
            Param("limit", "integer", "Most results.", default=10),
            _THRESHOLD,
            _AGENT,
            _PROJECT,
            _SINCE,
            _UNTIL,
            Param("active_only", "boolean", "Only sessions not yet ended.", default=False),
        ),
        tag="search",
        errors=(400, 503),
    ),
    Endpoint(
        "GET",
        "/search/events",
        "Search events by meaning (type and data)",
        _search_events,
        EventSearchResults,
        params=(
            Param("q", "string", "What to look for, in plain words.", required=True),
            Param("limit", "integer", "Most results.", default=10),
            _THRESHOLD,
            Param("session_id", "uuid", "Only events of this session."),
            Param("event_type", "string", "Only events of this type."),
            _AGENT,
            _PROJECT,
            Param("since", "date-time", "Logged at or after this ISO-8601 time."),
            Param("until", "date-time", "Logged before this ISO-8601 time."),
        ),
        tag="search",
        errors=(400, 503),
    ),
)


def _route(endpoint: Endpoint, app: AppContext, activity: ActivityService) -> Route:
    async def handle(request: Request) -> Response:
        try:
            call = Call(request, endpoint, app, activity)
            result = await endpoint.handler(call)
        except Exception as exc:
            return response_for(exc)
        return JSONResponse(result.model_dump(mode="json"), status_code=endpoint.status)

    handle.__name__ = endpoint.handler.__name__.lstrip("_")
    return Route(endpoint.path, handle, methods=[endpoint.method])


def api_routes(app: AppContext) -> list[Route]:
    """Routes to mount under /api: the endpoints, the OpenAPI document, and a JSON 404 for the rest."""
    from archon_mcp.api._openapi import openapi_document

    activity = ActivityService(app.database, app.settings)
    document = openapi_document(ENDPOINTS)

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    routes = [_route(e, app, activity) for e in ENDPOINTS]

    async def unknown(request: Request) -> Response:
        # The catch-all matches every path: answer OPTIONS, tell a wrong method (405) from a wrong path (404).
        # Allow lists what the endpoints on this path really accept (HEAD with GET), and OPTIONS.
        methods = {
            m
            for r in routes
            if r.path != "/{rest:path}" and r.matches(request.scope)[0] is not Match.NONE
            for m in r.methods or ()
        }
        allowed = sorted(methods | {"OPTIONS"}) if methods else []
        if allowed and request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
        if allowed:
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(
            404, "not_found", f"no API endpoint {request.method} {request.url.path}; see /api/openapi.json"
        )

    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    routes.append(Route("/{rest:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    return routes
