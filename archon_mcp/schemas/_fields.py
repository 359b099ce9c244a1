"""Field types of the request models: each checks its value with the friendly messages of
`services._validation` and advertises the JSON shape callers send.

Limits and allowed agents come from the `Settings` in force: the one passed as validation context
(`{"settings": ...}`), else the one an edge set with `use_settings`, else the defaults."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler, ValidationInfo, WithJsonSchema

from archon_mcp.config import Settings, SummaryMethod
from archon_mcp.errors import InvalidInputError
from archon_mcp.schemas import _checks as v

_current: ContextVar[Settings | None] = ContextVar("archon_request_settings", default=None)

MAX_OFFSET = 10_000_000
SearchMode = Literal["hybrid", "semantic", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "semantic", "keyword")
SUMMARY_METHODS: tuple[SummaryMethod, ...] = ("sampling", "openai", "extractive")
ResumeFormat = Literal["json", "markdown"]
RESUME_FORMATS: tuple[ResumeFormat, ...] = ("json", "markdown")


@cache
def _default_settings() -> Settings:
    return Settings()


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[None]:
    """Validate requests against `settings` within this block (the edges wrap each request)."""
    token = _current.set(settings)
    try:
        yield
    finally:
        _current.reset(token)


def settings_of(info: ValidationInfo | None) -> Settings:
    context = info.context if info is not None else None
    if isinstance(context, dict) and isinstance(context.get("settings"), Settings):
        return context["settings"]
    return _current.get() or _default_settings()


def _with_settings(check: Callable[[Any, str, Settings], Any]) -> Callable[[Any, ValidationInfo], Any]:
    def validate(value: Any, info: ValidationInfo) -> Any:
        return check(value, info.field_name or "value", settings_of(info))

    return validate


def _bounded_int(low: int, high: str | int) -> Callable[[Any, ValidationInfo], int]:
    """`high` names a Settings attribute when it is a string."""

    def validate(value: Any, info: ValidationInfo) -> int:
        top = getattr(settings_of(info), high) if isinstance(high, str) else high
        return v.check_int(value, info.field_name or "value", low, top)

    return validate


def _session_uuid(value: Any, info: ValidationInfo) -> uuid.UUID:
    return v.parse_uuid(value, info.field_name or "session_id", hint="session_id")


def _optional_uuid(value: Any, info: ValidationInfo) -> uuid.UUID | None:
    return v.parse_optional_uuid(value, info.field_name or "id")


def _optional_datetime(value: Any, info: ValidationInfo) -> datetime | None:
    return v.parse_datetime(value, info.field_name or "time")


def _agent(value: Any, _: str, settings: Settings) -> str:
    return v.check_agent(value, settings)


def _optional_agent(value: Any, _: str, settings: Settings) -> str | None:
    return None if value is None or value == "" else v.check_agent(value, settings)


def _json_object(required: bool) -> Callable[[Any, ValidationInfo], dict[str, Any]]:
    def validate(value: Any, info: ValidationInfo) -> dict[str, Any]:
        return v.check_json_object(value, info.field_name or "value", settings_of(info), required=required)

    return validate


def _project_name(value: Any, info: ValidationInfo) -> str | None:
    """A project name, or None for blank; `ProjectService.resolve` normalises it and finds the project."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{info.field_name or 'project'} must be a project name such as 'billing-api'")
    return value


def _resume_format(value: Any) -> str:
    if value not in RESUME_FORMATS:
        raise InvalidInputError(f"format {str(value)[:30]!r} is not one of: json (default), markdown")
    return value


def _threshold(value: Any) -> float:
    return v.check_threshold(value)


def _mode(value: Any) -> str:
    if value not in SEARCH_MODES:
        raise InvalidInputError(f"mode {str(value)[:30]!r} is not one of: hybrid (default), semantic, keyword")
    return value


def _methods(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [m.strip() for m in value.split(",")]
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInputError(f"methods must be a non-empty list of {', '.join(SUMMARY_METHODS)}")
    for method in value:
        if method not in SUMMARY_METHODS:
            raise InvalidInputError(f"unknown summary method {method!r}; use one of {', '.join(SUMMARY_METHODS)}")
    return list(value)


def _text(limit: str, *, required: bool) -> Callable[[Any, ValidationInfo], str | None]:
    def validate(value: Any, info: ValidationInfo) -> str | None:
        return v.check_text(value, info.field_name or "text", getattr(settings_of(info), limit), required=required)

    return validate


def _event_type(value: Any, _: str, settings: Settings) -> str:
    return v.check_event_type(value, settings)


def _event_type_filter(value: Any, _: str, settings: Settings) -> str | None:
    return None if value is None else v.check_event_type_filter(value, settings)


def _new_events(value: Any, _: str, settings: Settings) -> list[dict[str, Any]]:
    limit = settings.max_batch_events
    if not isinstance(value, list) or not value:
        raise InvalidInputError(
            f"events must be a non-empty list (at most {limit}) of objects like "
            '{"event_type": "task_completed", "event_data": {"task_id": "123"}}'
        )
    if len(value) > limit:
        raise InvalidInputError(f"events has {len(value)} items; send at most {limit} per call")
    checked = []
    for index, item in enumerate(value):
        where = f"events[{index}]"
        if not isinstance(item, dict):
            raise InvalidInputError(f"{where} must be an object with event_type, event_data and optional metadata")
        unknown = sorted(set(item) - {"event_type", "event_data", "metadata"})
        if unknown:
            raise InvalidInputError(f"{where} has unknown fields {unknown}; allowed: event_type, event_data, metadata")
        try:
            checked.append(
                {
                    "event_type": v.check_event_type(item.get("event_type"), settings),
                    "event_data": v.check_json_object(item.get("event_data"), "event_data", settings, required=True),
                    "metadata": v.check_json_object(item.get("metadata"), "metadata", settings, required=False),
                }
            )
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from exc
    return checked


_STRING = {"type": "string"}
_OPTIONAL_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_OBJECT = {"type": "object", "additionalProperties": True}

# Values are checked by our validators (before pydantic's own type check) so that a wrong value gets
# a message saying what to send; the JSON schema says what the wire carries.
SessionId = Annotated[uuid.UUID, BeforeValidator(_session_uuid), WithJsonSchema(_STRING)]
OptionalUuid = Annotated[uuid.UUID | None, BeforeValidator(_optional_uuid), WithJsonSchema(_OPTIONAL_STRING)]
OptionalProjectName = Annotated[str | None, BeforeValidator(_project_name), WithJsonSchema(_OPTIONAL_STRING)]
ResumeFormatField = Annotated[
    ResumeFormat, BeforeValidator(_resume_format), WithJsonSchema({"type": "string", "enum": list(RESUME_FORMATS)})
]
OptionalTime = Annotated[datetime | None, BeforeValidator(_optional_datetime), WithJsonSchema(_OPTIONAL_STRING)]
Agent = Annotated[str, BeforeValidator(_with_settings(_agent)), WithJsonSchema(_STRING)]
OptionalAgent = Annotated[
    str | None, BeforeValidator(_with_settings(_optional_agent)), WithJsonSchema(_OPTIONAL_STRING)
]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_object(True)), WithJsonSchema(_OBJECT)]
OptionalJsonObject = Annotated[
    dict[str, Any], BeforeValidator(_json_object(False)), WithJsonSchema({"anyOf": [_OBJECT, {"type": "null"}]})
]
EventType = Annotated[str, BeforeValidator(_with_settings(_event_type)), WithJsonSchema(_STRING)]
EventTypeFilter = Annotated[
    str | None, BeforeValidator(_with_settings(_event_type_filter)), WithJsonSchema(_OPTIONAL_STRING)
]
Query = Annotated[str, BeforeValidator(_text("max_query_chars", required=True)), AfterValidator(str.strip)]
Summary = Annotated[str, BeforeValidator(_text("max_summary_chars", required=True)), WithJsonSchema(_STRING)]
OptionalSummary = Annotated[
    str | None, BeforeValidator(_text("max_summary_chars", required=False)), WithJsonSchema(_OPTIONAL_STRING)
]
# Whole numbers are parsed by pydantic (so "20" in a query string works), then range-checked.
PageLimit = Annotated[int, AfterValidator(_bounded_int(1, "max_page_size"))]
SearchLimit = Annotated[int, AfterValidator(_bounded_int(1, "max_search_results"))]
EventLimit = Annotated[int, AfterValidator(_bounded_int(1, "max_event_limit"))]
Days = Annotated[int, AfterValidator(_bounded_int(1, "max_days"))]
Offset = Annotated[int, AfterValidator(_bounded_int(0, MAX_OFFSET))]
Threshold = Annotated[float, AfterValidator(_threshold)]
Mode = Annotated[SearchMode, BeforeValidator(_mode), WithJsonSchema({"type": "string", "enum": list(SEARCH_MODES)})]
Methods = Annotated[
    list[SummaryMethod] | None,
    BeforeValidator(_methods),
    WithJsonSchema({"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}),
]


class _BatchSchema:
    """The JSON schema of `events`: its size limit is the setting in force when the schema is made."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {
            "type": "array",
            "minItems": 1,
            "maxItems": settings_of(None).max_batch_events,
            "items": {"type": "object", "additionalProperties": True},
        }


NewEvents = Annotated[list[dict[str, Any]], BeforeValidator(_with_settings(_new_events)), _BatchSchema()]


def bounded(low: int, high: int) -> AfterValidator:
    """A fixed range check for a whole number (`Annotated[int, bounded(1, 10)]`)."""
    return AfterValidator(_bounded_int(low, high))
