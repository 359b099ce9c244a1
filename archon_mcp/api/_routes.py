"""The REST API on FastAPI: each endpoint takes its operation's request model (the same one the MCP tool
is generated from) as query parameters or JSON body, calls the same function of `operations`, and is
described in the OpenAPI document FastAPI generates from those models."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, create_model
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from archon_mcp import __version__, operations
from archon_mcp.api._errors import error_response, response_for
from archon_mcp.app import AppContext
from archon_mcp.config import COMMON_EVENT_TYPES, EVENT_FIELDS
from archon_mcp.errors import ArchonError, InvalidInputError
from archon_mcp.schemas import (
    ActiveSessions,
    ActivityReport,
    ActivityRequest,
    AddEventRequest,
    AddEventsRequest,
    BrowseSessionsRequest,
    CountSessionsRequest,
    CreateSessionRequest,
    EndSessionRequest,
    ErrorBody,
    EventOut,
    EventsAdded,
    EventSearchResults,
    GetActiveSessionsRequest,
    GetLastSessionRequest,
    GetRecentSessionsRequest,
    GetSessionRequest,
    LastSession,
    Limits,
    Meta,
    NamedProject,
    Projects,
    RecentSessions,
    ResumeContext,
    ResumeContextRequest,
    SearchEventsRequest,
    SearchSessionsRequest,
    SessionCount,
    SessionDetail,
    SessionOut,
    SessionPage,
    SessionSearchResults,
    SessionSummary,
    StoreStats,
    SummarizeSessionRequest,
    UpdateSessionSummaryRequest,
    answer_text,
    describe,
    error_from,
    use_settings,
)
from archon_mcp.schemas import (
    Request as OperationRequest,
)
from archon_mcp.services.activity import ActivityService

log = logging.getLogger(__name__)
M = TypeVar("M", bound=OperationRequest)

# --- request parts: a request model without the fields that travel in the path ----------------------
_PARTS: dict[tuple[type[OperationRequest], str], type[OperationRequest]] = {}


def part(model: type[OperationRequest], without: str) -> type[OperationRequest]:
    """`model` without field `without` (it is in the URL path): the same fields, types, checks and
    descriptions, for FastAPI to read from the query string or the body."""
    key = (model, without)
    if key not in _PARTS:
        fields = {name: (field.annotation, field) for name, field in model.model_fields.items() if name != without}
        name = model.__name__.removesuffix("Request") + "Parameters"
        _PARTS[key] = create_model(name, __base__=OperationRequest, __doc__=model.__doc__, **fields)  # type: ignore[call-overload]
    return _PARTS[key]


def _values(parameters: BaseModel | None) -> dict[str, Any]:
    if parameters is None:
        return {}
    return {name: getattr(parameters, name) for name in parameters.model_fields_set}


def _path_doc(model: type[OperationRequest], field: str) -> Any:
    return Path(description=model.model_fields[field].description)


SessionPath = Annotated[str, _path_doc(GetSessionRequest, "session_id")]
AgentPath = Annotated[str, _path_doc(GetLastSessionRequest, "agent")]

# Each operation's model without the field that is in the URL path (for the type checker: the model).
if TYPE_CHECKING:
    AddEventParameters = AddEventRequest
    AddEventsParameters = AddEventsRequest
    CountSessionsParameters = CountSessionsRequest
    EndSessionParameters = EndSessionRequest
    GetLastSessionParameters = GetLastSessionRequest
    GetRecentSessionsParameters = GetRecentSessionsRequest
    GetSessionParameters = GetSessionRequest
    ResumeContextParameters = ResumeContextRequest
    SummarizeSessionParameters = SummarizeSessionRequest
    UpdateSessionSummaryParameters = UpdateSessionSummaryRequest
else:
    AddEventParameters = part(AddEventRequest, "session_id")
    AddEventsParameters = part(AddEventsRequest, "session_id")
    CountSessionsParameters = part(CountSessionsRequest, "agent")
    EndSessionParameters = part(EndSessionRequest, "session_id")
    GetLastSessionParameters = part(GetLastSessionRequest, "agent")
    GetRecentSessionsParameters = part(GetRecentSessionsRequest, "agent")
    GetSessionParameters = part(GetSessionRequest, "session_id")
    ResumeContextParameters = part(ResumeContextRequest, "agent")
    SummarizeSessionParameters = part(SummarizeSessionRequest, "session_id")
    UpdateSessionSummaryParameters = part(UpdateSessionSummaryRequest, "session_id")

# --- documentation of the error answers ------------------------------------------------------------
_ERROR_TEXT = {
    400: "Invalid input: the message says what to fix.",
    401: "Missing or wrong bearer token.",
    403: "A browser request from another origin (only this server's own origin and ARCHON_ALLOWED_ORIGINS).",
    404: "No such session or endpoint.",
    409: "The session's state does not allow this (e.g. already ended).",
    413: "The body is larger than ARCHON_MAX_API_BODY_BYTES.",
    415: "The body is not sent as Content-Type: application/json.",
    503: "The database or the embedding model is unavailable; retry later.",
}


def _errors(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    codes = (400, *statuses, *((413, 415) if body else ()), 401, 403, 503)
    return {code: {"model": ErrorBody, "description": _ERROR_TEXT[code]} for code in codes}


# --- the app -----------------------------------------------------------------------------------------
T = TypeVar("T")


class _SettingsScope:
    """Request models validated inside this app check against the server's settings (limits, agents)."""

    def __init__(self, app: ASGIApp, app_context: AppContext) -> None:
        self.app = app
        self.settings = app_context.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            # Every GET endpoint answers HEAD too (the server leaves the body out), as Starlette's routes do.
            scope = {**scope, "method": "GET"}
        with use_settings(self.settings):
            await self.app(scope, receive, send)


def build_api(app: AppContext) -> ASGIApp:
    """The FastAPI app to mount at /api."""
    settings = app.settings
    activity = ActivityService(app.database, settings)
    api = FastAPI(
        title="archon-mcp REST API",
        version=__version__,
        description="Sessions and events of AI agents: the same operations, parameters and validation as the MCP "
        'tools. Errors are `{"error": {"type": ..., "message": ...}}`. When the server has a token, send '
        "`Authorization: Bearer <token>`.",
        openapi_url=None,  # served below, with the /api prefix and the settings filled in
        docs_url=None,
        redoc_url=None,
    )

    async def run(model: type[M], call: Callable[[AppContext, M], Awaitable[T]], **values: Any) -> T | Response:
        """Validate the whole request (path + query/body) as the MCP tool does, then run the operation."""
        try:
            request = model.parse(settings, **values)
            return await call(app, request)
        except Exception as exc:
            return response_for(exc)

    # --- meta ---------------------------------------------------------------------------------------
    @api.get(
        "/meta",
        response_model=Meta,
        tags=["meta"],
        responses=_errors(),
        summary="Server version, allowed agents, common event types, limits",
    )
    async def meta() -> Meta:
        return Meta(
            version=__version__,
            agents=list(settings.agents),
            event_types=list(COMMON_EVENT_TYPES),
            event_fields=dict(EVENT_FIELDS),
            limits=Limits(
                max_page_size=settings.max_page_size,
                max_event_limit=settings.max_event_limit,
                max_search_results=settings.max_search_results,
            ),
            auth_required=settings.resolved_auth_token is not None,
        )

    @api.get(
        "/stats",
        response_model=StoreStats,
        tags=["meta"],
        responses=_errors(),
        summary="Counts of sessions and events, the embedding backlog",
    )
    async def stats() -> Any:
        return await run(operations.GetStatsRequest, operations.get_stats)

    @api.get(
        "/activity",
        response_model=ActivityReport,
        tags=["activity"],
        responses=_errors(),
        summary="Sessions and events per UTC day per agent over the last `days` days",
    )
    async def activity_report(q: Annotated[ActivityRequest, Query()]) -> Any:
        async def call(a: AppContext, r: ActivityRequest) -> ActivityReport:
            pid = await a.projects.resolve(project=r.project, project_id=r.project_id, create=False)
            return await activity.activity(days=r.days, agent=r.agent, project_id=pid)

        return await run(ActivityRequest, call, **_values(q))

    @api.get(
        "/projects",
        response_model=Projects,
        tags=["activity"],
        responses=_errors(),
        summary="Projects seen in sessions, with their names",
    )
    async def projects() -> Any:
        try:
            ids = await activity.projects()
            names = await app.projects.names(ids)
            return Projects(projects=ids, named=[NamedProject(id=pid, name=names.get(pid)) for pid in ids])
        except Exception as exc:
            return response_for(exc)

    # --- sessions -----------------------------------------------------------------------------------
    @api.get(
        "/sessions",
        response_model=SessionPage,
        tags=["sessions"],
        responses=_errors(),
        summary="List sessions newest first, with event counts (archon_list_sessions)",
    )
    async def list_sessions(q: Annotated[BrowseSessionsRequest, Query()]) -> Any:
        return await run(BrowseSessionsRequest, operations.list_sessions, **_values(q))

    @api.post(
        "/sessions",
        status_code=201,
        response_model=SessionOut,
        tags=["sessions"],
        responses=_errors(body=True),
        summary="Start a session (archon_create_session)",
    )
    async def create_session(body: CreateSessionRequest) -> Any:
        return await run(CreateSessionRequest, operations.create_session, **_values(body))

    @api.get(
        "/sessions/active",
        response_model=ActiveSessions,
        tags=["sessions"],
        responses=_errors(),
        summary="Sessions not yet ended, with event counts (archon_get_active_sessions)",
    )
    async def active_sessions(q: Annotated[GetActiveSessionsRequest, Query()]) -> Any:
        return await run(GetActiveSessionsRequest, operations.get_active_sessions, **_values(q))

    @api.get(
        "/sessions/{session_id}",
        response_model=SessionDetail,
        tags=["sessions"],
        responses=_errors(404),
        summary="A session with a window of its events, oldest first (archon_get_session)",
    )
    async def get_session(session_id: SessionPath, q: Annotated[GetSessionParameters, Query()]) -> Any:
        return await run(GetSessionRequest, operations.get_session, session_id=session_id, **_values(q))

    @api.post(
        "/sessions/{session_id}/end",
        response_model=SessionOut,
        tags=["sessions"],
        responses=_errors(404, 409, body=True),
        summary="End a session, optionally with its summary; a session ends once (archon_end_session)",
    )
    async def end_session(session_id: SessionPath, body: Annotated[EndSessionParameters | None, Body()] = None) -> Any:
        return await run(EndSessionRequest, operations.end_session, session_id=session_id, **_values(body))

    @api.put(
        "/sessions/{session_id}/summary",
        response_model=SessionOut,
        tags=["sessions"],
        responses=_errors(404, body=True),
        summary="Replace the summary and merge metadata; re-embeds the session (archon_update_session_summary)",
    )
    async def update_summary(session_id: SessionPath, body: Annotated[UpdateSessionSummaryParameters, Body()]) -> Any:
        return await run(
            UpdateSessionSummaryRequest, operations.update_session_summary, session_id=session_id, **_values(body)
        )

    @api.post(
        "/sessions/{session_id}/summarize",
        response_model=SessionSummary,
        tags=["sessions"],
        responses=_errors(404, 409, body=True),
        summary="Summarise the session from its events: the server's chat model or the extractive digest "
        "(archon_summarize_session; MCP sampling exists only over MCP)",
    )
    async def summarize(
        session_id: SessionPath, body: Annotated[SummarizeSessionParameters | None, Body()] = None
    ) -> Any:
        async def call(a: AppContext, r: SummarizeSessionRequest) -> SessionSummary:
            return await operations.summarize_session(
                a, r, operations.Sampling(unavailable="MCP sampling is only offered over MCP")
            )

        return await run(SummarizeSessionRequest, call, session_id=session_id, **_values(body))

    @api.post(
        "/sessions/{session_id}/events",
        status_code=201,
        response_model=EventOut,
        tags=["events"],
        responses=_errors(404, 409, body=True),
        summary="Log an event in an active session (archon_add_event)",
    )
    async def add_event(session_id: SessionPath, body: Annotated[AddEventParameters, Body()]) -> Any:
        return await run(AddEventRequest, operations.add_event, session_id=session_id, **_values(body))

    @api.post(
        "/sessions/{session_id}/events/batch",
        status_code=201,
        response_model=EventsAdded,
        tags=["events"],
        responses=_errors(404, 409, body=True),
        summary="Log several events in one transaction, all or none, in order (archon_add_events)",
    )
    async def add_events(session_id: SessionPath, body: Annotated[AddEventsParameters, Body()]) -> Any:
        return await run(AddEventsRequest, operations.add_events, session_id=session_id, **_values(body))

    # --- agents -------------------------------------------------------------------------------------
    @api.get(
        "/agents/{agent}/last-session",
        response_model=LastSession,
        tags=["agents"],
        responses=_errors(),
        summary="The agent's latest session with its latest events (archon_get_last_session)",
    )
    async def last_session(agent: AgentPath, q: Annotated[GetLastSessionParameters, Query()]) -> Any:
        return await run(GetLastSessionRequest, operations.get_last_session, agent=agent, **_values(q))

    @api.get(
        "/agents/{agent}/count",
        response_model=SessionCount,
        tags=["agents"],
        responses=_errors(),
        summary="How many sessions the agent started in the last `days` days (archon_count_sessions)",
    )
    async def count_sessions(agent: AgentPath, q: Annotated[CountSessionsParameters, Query()]) -> Any:
        return await run(CountSessionsRequest, operations.count_sessions, agent=agent, **_values(q))

    @api.get(
        "/agents/{agent}/recent",
        response_model=RecentSessions,
        tags=["agents"],
        responses=_errors(),
        summary="The agent's sessions of the last `days` days with event counts (archon_get_recent_sessions)",
    )
    async def recent_sessions(agent: AgentPath, q: Annotated[GetRecentSessionsParameters, Query()]) -> Any:
        return await run(GetRecentSessionsRequest, operations.get_recent_sessions, agent=agent, **_values(q))

    @api.get(
        "/agents/{agent}/resume",
        response_model=ResumeContext,
        tags=["agents"],
        responses={
            200: {"content": {"text/markdown": {"schema": {"type": "string"}}}, "description": "The context."},
            **_errors(),
        },
        summary="Where the agent left off: last summary, open tasks, decisions, errors (archon_resume_context); "
        "format=markdown answers text/markdown",
    )
    async def resume(agent: AgentPath, q: Annotated[ResumeContextParameters, Query()]) -> Any:
        answer = await run(ResumeContextRequest, operations.resume_context, agent=agent, **_values(q))
        if isinstance(answer, ResumeContext) and q.format == "markdown":
            return Response(answer_text(answer), media_type="text/markdown; charset=utf-8")
        return answer

    # --- search -------------------------------------------------------------------------------------
    @api.get(
        "/search/sessions",
        response_model=SessionSearchResults,
        tags=["search"],
        responses=_errors(),
        summary="Search sessions by meaning and keywords (archon_search_sessions)",
    )
    async def search_sessions(q: Annotated[SearchSessionsRequest, Query()]) -> Any:
        return await run(SearchSessionsRequest, operations.search_sessions, **_values(q))

    @api.get(
        "/search/events",
        response_model=EventSearchResults,
        tags=["search"],
        responses=_errors(),
        summary="Search events by meaning and keywords (archon_search_events)",
    )
    async def search_events(q: Annotated[SearchEventsRequest, Query()]) -> Any:
        return await run(SearchEventsRequest, operations.search_events, **_values(q))

    # --- the document, and the answers FastAPI would give in its own format --------------------------
    document: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not document:
            with use_settings(settings):
                generated = get_openapi(
                    title=api.title, version=api.version, description=api.description, routes=api.routes
                )
            paths = {}
            for path, methods in generated["paths"].items():
                kept = {}
                for method, op in methods.items():
                    op["responses"].pop("422", None)  # we answer 400 with our error shape instead
                    kept[method] = op
                paths["/api" + path] = kept
            generated["paths"] = paths
            schemas = generated.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            generated.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            generated["security"] = [{"bearer": []}]
            document.update(describe(generated, settings))
        return document

    api.openapi = openapi  # type: ignore[method-assign]

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(openapi())

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return response_for(_input_error(exc.errors(), request))

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (404, 405):
            return _not_routed(api, request)
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)

    return _SettingsScope(api, app)


def _allowed_methods(api: FastAPI, scope: Scope) -> list[str]:
    methods = {
        method
        for route in api.router.routes
        if getattr(route, "include_in_schema", True) and route.matches(scope)[0] is not Match.NONE
        for method in getattr(route, "methods", None) or ()
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"}) if methods else []


def _not_routed(api: FastAPI, request: Request) -> Response:
    """OPTIONS lists what a path accepts; a wrong method is a 405 naming them; anything else a 404."""
    allowed = _allowed_methods(api, request.scope)
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


def _input_error(errors: Any, request: Request) -> ArchonError:
    """FastAPI's validation errors (the query or body part of a request model) in our words."""
    error = dict(next(iter(errors)))
    where, *loc = error.get("loc") or ("body",)
    kind = error.get("type")
    if kind == "json_invalid":
        return InvalidInputError("the request body is not valid JSON; send a JSON object")
    if not loc and kind in ("model_attributes_type", "dict_type", "model_type"):
        return InvalidInputError("the request body must be a JSON object")
    model = _endpoint_model(request, where)
    allowed = list(model.model_fields) if model is not None else []
    return error_from(
        {**error, "loc": tuple(loc)}, allowed=allowed, unknown="query parameter" if where == "query" else "field"
    )


def _endpoint_model(request: Request, where: str) -> type[BaseModel] | None:
    """The request model FastAPI read the query string or the body into."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    params = getattr(dependant, "query_params" if where == "query" else "body_params", None) or []
    for param in params:
        annotation = param.field_info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                return candidate
    return None
