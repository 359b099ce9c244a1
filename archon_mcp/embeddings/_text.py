"""What text stands for a session or an event when it is embedded (and keyword-indexed)."""

from __future__ import annotations

from typing import Any


def _flatten(value: Any, prefix: str, out: list[str], budget: list[int]) -> None:
    if budget[0] <= 0:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out, budget)
    elif isinstance(value, list):
        for item in value:
            _flatten(item, prefix, out, budget)
    else:
        piece = f"{prefix}: {value}" if prefix else str(value)
        out.append(piece)
        budget[0] -= len(piece) + 2


def flatten_json(data: Any, max_chars: int) -> str:
    """`{"a": {"b": 1}, "c": [2, 3]}` -> `a.b: 1; c: 2; c: 3`, cut at `max_chars`."""
    out: list[str] = []
    _flatten(data, "", out, [max_chars])
    return "; ".join(out)[:max_chars]


def event_text(
    event_type: str, event_data: dict[str, Any], max_chars: int = 2000, *, context: str | None = None
) -> str:
    """An event as the seed says: its type, then its data's keys and values flattened; then, when
    given, its context (the previous event, the session's descriptors) in what room is left."""
    readable_type = event_type.replace("_", " ")
    body = flatten_json(event_data, max_chars)
    own = f"{readable_type}: {body}"[:max_chars] if body else readable_type[:max_chars]
    if context and context.strip() and len(own) + 2 < max_chars:
        return f"{own}\n{context.strip()}"[:max_chars]
    return own


def session_text(summary: str | None, metadata: dict[str, Any] | None, max_chars: int = 2000) -> str:
    """A session as the seed says: its summary plus the metadata's key_events. Empty: nothing to embed."""
    parts: list[str] = []
    if summary and summary.strip():
        parts.append(summary.strip())
    key_events = (metadata or {}).get("key_events")
    if isinstance(key_events, list) and key_events:
        parts.append("Key events: " + ", ".join(str(k).replace("_", " ") for k in key_events))
    return "\n".join(parts)[:max_chars]
