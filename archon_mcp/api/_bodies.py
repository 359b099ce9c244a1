"""Request bodies at the HTTP edge: size limits enforced while reading, JSON-only REST bodies, clients
that drop mid-upload, and MCP messages that the SDK's JSON parser would refuse with an obscure message.

One ASGI middleware in front of every path: a body is read here, never more than its limit, before
any route or the MCP SDK sees it, then handed on whole."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pydantic_core
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archon_mcp.errors import InvalidInputError
from archon_mcp.schemas._checks import check_nesting, nesting_message

log = logging.getLogger(__name__)

MCP_MESSAGE_PATHS = ("/mcp", "/messages")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# JSON-RPC error codes (https://www.jsonrpc.org/specification#error_object).
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
# An escaped UTF-16 surrogate (\ud800-\udfff) somewhere in the text: only then is the slow check worth it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _is_mcp(path: str) -> bool:
    return any(_under(path, p) for p in MCP_MESSAGE_PATHS)


def _json_body(status: int, body: dict[str, Any], *, close: bool = False) -> tuple[Message, Message]:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        # The client may still be sending: tell it (and uvicorn) this connection is done.
        headers.append((b"connection", b"close"))
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": payload},
    )


async def _answer(send: Send, status: int, body: dict[str, Any], *, close: bool = False) -> None:
    start, content = _json_body(status, body, close=close)
    await send(start)
    await send(content)


def _api_error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def _jsonrpc_error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _first_surrogate(value: Any, path: str) -> tuple[str, str] | None:
    """(where, escape) of the first unpaired surrogate in a parsed JSON value; iterative (any depth)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            bad = next((ch for ch in item if "\ud800" <= ch <= "\udfff"), None)
            if bad is not None:
                return where, f"\\u{ord(bad):04x}"
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                found = _first_surrogate(key, f"a key in {where}") if isinstance(key, str) else None
                if found is not None:
                    return found
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(item))))
    return None


def lone_surrogate_error(body: bytes) -> dict[str, Any] | None:
    """A JSON-RPC error naming the field that holds an escaped unpaired surrogate, or None.

    `"\\udfff"` is grammatical JSON but not Unicode; the SDK's parser refuses the whole message with
    `-32700 lone leading surrogate in hex escape`, which tells the caller nothing useful. The tools
    refuse such text too (PostgreSQL cannot store it): answer with the same words they would use."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        pydantic_core.from_json(body)
        return None  # the SDK will parse it: a paired surrogate (an emoji), nothing to say
    except ValueError:
        pass
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None  # broken in some other way: the SDK's parse error stands
    found = _first_surrogate(message, "")
    if found is None:
        return None
    where, escape = found
    request_id = message.get("id") if isinstance(message, dict) else None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool) or _first_surrogate(request_id, ""):
        request_id = None
    for prefix in ("params.arguments.", "params."):
        if where.startswith(prefix):
            where, code = where[len(prefix) :], INVALID_PARAMS
            break
    else:
        code = INVALID_REQUEST
    text = f"{where} contains an unpaired UTF-16 surrogate ({escape}), which is not valid Unicode; remove it and retry"
    return _jsonrpc_error(request_id, code, text)


def api_body_problem(body: bytes, max_depth: int) -> str | None:
    """Why a REST body cannot be a request (not JSON, nested too deep, not an object), or None. Checked
    before FastAPI parses it: its parser would overflow the stack on absurd nesting."""
    if not body.strip():
        return None
    hint = f" (event_data and metadata may nest {max_depth - 1} levels: ARCHON_MAX_JSON_DEPTH)"
    try:
        value = json.loads(body)
    except RecursionError:
        return nesting_message("the request body", max_depth, hint)
    except (ValueError, UnicodeDecodeError):
        return "the request body is not valid JSON; send a JSON object"
    try:
        check_nesting(value, "the request body", max_depth, hint)
    except InvalidInputError as exc:
        return str(exc)
    if not isinstance(value, dict):
        return f"the request body must be a JSON object (got {type(value).__name__})"
    return None


class RequestBodyMiddleware:
    """Reads each request body in front of the app, at most `api_limit` bytes (`mcp_limit` on the MCP
    paths): a larger `Content-Length` is answered 413 before a byte is read, a larger streamed
    (chunked) body as soon as it crosses the limit. REST bodies must be `application/json` (415).
    A client that disconnects mid-upload is logged once at INFO; nothing reaches the app."""

    def __init__(self, app: ASGIApp, *, api_limit: int, mcp_limit: int, api_max_depth: int = 21) -> None:
        self.app = app
        self.api_limit = api_limit
        self.mcp_limit = mcp_limit
        self.api_max_depth = api_max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        mcp = _is_mcp(path)
        limit = self.mcp_limit if mcp else self.api_limit
        headers = Headers(scope=scope)
        declared = self._declared_length(headers)
        chunked = "transfer-encoding" in headers
        has_body = chunked or bool(declared)

        if _under(path, "/api") and method in _BODY_METHODS and (has_body or "content-type" in headers):
            media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                shown = headers.get("content-type", "none")[:80]
                await _answer(
                    send,
                    415,
                    _api_error(
                        "unsupported_media_type",
                        f"send the request body as JSON with Content-Type: application/json (got {shown!r})",
                    ),
                    close=has_body,
                )
                return

        if declared is not None and declared > limit:
            await self._too_large(send, mcp, limit)
            return
        if not has_body:
            await self.app(scope, receive, send)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                client = scope.get("client")
                log.info(
                    "client %s disconnected while sending the body of %s %s (%d bytes received); ignored",
                    client[0] if client else "?",
                    method,
                    path,
                    len(body),
                )
                return
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > limit:
                await self._too_large(send, mcp, limit)
                return
            body += chunk
            if not message.get("more_body", False):
                break

        if mcp and method == "POST":
            refusal = lone_surrogate_error(bytes(body))
            if refusal is not None:
                await _answer(send, 400, refusal)
                return
        elif _under(path, "/api") and method in _BODY_METHODS:
            problem = api_body_problem(bytes(body), self.api_max_depth)
            if problem is not None:
                await _answer(send, 400, _api_error("invalid_input", problem))
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the app expects

        await self.app(scope, replay, send)

    @staticmethod
    def _declared_length(headers: Headers) -> int | None:
        values = headers.getlist("content-length")
        if not values:
            return None
        try:
            return max(int(v) for v in values)
        except ValueError:
            return None  # uvicorn refuses a malformed Content-Length before we get here

    @staticmethod
    async def _too_large(send: Send, mcp: bool, limit: int) -> None:
        if mcp:
            body = _jsonrpc_error(
                None,
                INVALID_REQUEST,
                f"the request body is larger than {limit} bytes (ARCHON_MAX_MCP_BODY_BYTES); "
                "send fewer events per archon_add_events call",
            )
        else:
            body = _api_error(
                "payload_too_large",
                f"the request body is larger than {limit} bytes (ARCHON_MAX_API_BODY_BYTES); "
                "event_data and metadata are limited to ARCHON_MAX_JSON_BYTES each",
            )
        await _answer(send, 413, body, close=True)
