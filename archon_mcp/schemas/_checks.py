"""Argument checks behind the request models (and the CLI). Each error says what was wrong and how to fix it."""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from archon_mcp.config import Settings
from archon_mcp.errors import Hint, InvalidInputError

# Postgres timestamptz spans 4713 BC .. 294276 AD, Python's datetime 1..9999: accept the overlap.
_MIN_YEAR, _MAX_YEAR = 1, 9999


def parse_uuid(value: Any, field: str, hint: Hint | None = None) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} is required and must be a UUID string", hint=hint)
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidInputError(
            f"{field} {value[:80]!r} is not a valid UUID (expected e.g. '1c2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f')",
            hint=hint,
        ) from None


def parse_optional_uuid(value: Any, field: str) -> uuid.UUID | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_uuid(value, field)


def check_agent(value: Any, settings: Settings) -> str:
    allowed = ", ".join(settings.agents)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"agent is required: one of {allowed}")
    agent = value.strip().lower()
    if agent not in settings.agents:
        raise InvalidInputError(f"unknown agent {value[:50]!r}: use one of {allowed}")
    return agent


def check_int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{field} must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidInputError(f"{field} must be between {low} and {high} (got {value})")
    return value


def check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidInputError("threshold must be a number from 0.0 to 1.0")
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"threshold must be between 0.0 and 1.0 (got {value}); try 0.5 for broader results")
    return float(value)


def _bad_char(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (\\u0000), which PostgreSQL cannot store"
    for ch in text:
        if "\ud800" <= ch <= "\udfff":
            return "an unpaired UTF-16 surrogate, which is not valid Unicode"
    return None


def check_text(value: Any, field: str, max_chars: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string")
    if required and not value.strip():
        raise InvalidInputError(f"{field} must not be empty")
    if len(value) > max_chars:
        raise InvalidInputError(f"{field} is {len(value)} characters long; the limit is {max_chars}")
    problem = _bad_char(value)
    if problem:
        raise InvalidInputError(f"{field} contains {problem}; remove it and retry")
    return value


# Event types are identifiers (filters, summaries and the keyword index split them on "_"):
# ASCII snake_case only, so look-alikes, markup and paths never become a type.
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*")
_EVENT_TYPE_WORDS = re.compile(r"[A-Za-z0-9]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake_case_suggestion(text: str) -> str | None:
    """`TASK_CREATED`, `taskCreated`, `task-created`, `Task Created` -> `task_created`; None when
    the text holds anything but ASCII letters, digits and the separators `_ - . space`."""
    if re.fullmatch(r"[A-Za-z0-9_\-. ]+", text) is None:
        return None
    words = _EVENT_TYPE_WORDS.findall(_CAMEL_BOUNDARY.sub("_", text))
    candidate = "_".join(word.lower() for word in words)
    return candidate if _EVENT_TYPE.fullmatch(candidate) else None


def check_event_type(value: Any, settings: Settings) -> str:
    """A stored event type: snake_case ASCII (`^[a-z][a-z0-9_]*$`), at most `max_event_type_chars`."""
    text = check_text(value, "event_type", settings.max_event_type_chars)
    assert text is not None
    text = text.strip()
    if _EVENT_TYPE.fullmatch(text):
        return text
    rule = (
        "must be one word in snake_case (lowercase letters, digits and underscores, starting with a letter, "
        f"at most {settings.max_event_type_chars} characters), e.g. task_created or decision_made"
    )
    suggestion = _snake_case_suggestion(text)
    if suggestion is not None:
        raise InvalidInputError(f"event_type {text[:50]!r} {rule}; use {suggestion!r}")
    odd = next((ch for ch in text if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_")), None)
    if odd is not None:
        raise InvalidInputError(f"event_type {text[:50]!r} {rule}; {odd!r} (U+{ord(odd):04X}) is not allowed")
    raise InvalidInputError(f"event_type {text[:50]!r} {rule}; start it with a letter")


def check_event_type_filter(value: Any, settings: Settings) -> str:
    """An event type to search for: one word. Looser than `check_event_type` so that types stored
    before the snake_case rule stay findable."""
    text = check_text(value, "event_type", settings.max_event_type_chars)
    assert text is not None
    text = text.strip()
    if any(ch.isspace() for ch in text):
        raise InvalidInputError(
            f"event_type {text[:50]!r} must be one word in snake_case, e.g. task_created or decision_made"
        )
    return text


def _walk(value: Any, path: str, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise InvalidInputError(f"{path} is nested deeper than {max_depth} levels; flatten it")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{path} has a non-string key {key!r}; JSON object keys are strings")
            problem = _bad_char(key)
            if problem:
                raise InvalidInputError(f"a key in {path} contains {problem}; remove it and retry")
            _walk(item, f"{path}.{key}", depth + 1, max_depth)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, max_depth)
    elif isinstance(value, str):
        problem = _bad_char(value)
        if problem:
            raise InvalidInputError(f"{path} contains {problem}; remove it and retry")
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{path} is {value}, which JSON cannot hold; use a string or null")
    elif value is not None and not isinstance(value, bool | int | float):
        raise InvalidInputError(f"{path} has a value of type {type(value).__name__}, which is not JSON")


def check_nesting(value: Any, what: str, max_depth: int, hint: str = "") -> None:
    """Refuses JSON nested more than `max_depth` containers deep. Iterative: safe at any depth."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > max_depth:
            raise InvalidInputError(nesting_message(what, max_depth, hint))
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def nesting_message(what: str, max_depth: int, hint: str = "") -> str:
    return f"{what} is nested deeper than {max_depth} levels{hint}; flatten it"


def check_json_object(value: Any, field: str, settings: Settings, *, required: bool) -> dict[str, Any]:
    """A JSON object within the size and depth limits, safe for PostgreSQL jsonb."""
    if value is None:
        if required:
            raise InvalidInputError(f'{field} is required: pass a JSON object, e.g. {{"title": "..."}}')
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(
            f'{field} must be a JSON object (got {type(value).__name__}); wrap the value, e.g. {{"value": ...}}'
        )
    _walk(value, field, 1, settings.max_json_depth)
    try:
        size = len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{field} is not valid JSON: {exc}") from None
    if size > settings.max_json_bytes:
        raise InvalidInputError(
            f"{field} is {size} bytes of JSON; the limit is {settings.max_json_bytes}. "
            "Store large content elsewhere and keep a reference (path, URL, id) here"
        )
    return value


def parse_datetime(value: Any, field: str) -> datetime | None:
    """ISO-8601 text (or a datetime) -> aware UTC datetime. Naive times are taken as UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise InvalidInputError(
                f"{field} {value[:50]!r} is not an ISO-8601 date-time, e.g. 2026-01-31T09:00:00Z or 2026-01-31"
            ) from None
    else:
        raise InvalidInputError(f"{field} must be an ISO-8601 date-time string")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not _MIN_YEAR < moment.year < _MAX_YEAR:
        raise InvalidInputError(f"{field} must be between years {_MIN_YEAR + 1} and {_MAX_YEAR - 1}")
    return moment.astimezone(UTC)
