"""Bounds on open streamable-HTTP MCP sessions, per client address and in total.

The SDK's session manager keeps every session until the client sends DELETE or it has been idle for
its timeout, and refuses new ones with 503 once `max_sessions` are open: one client that initializes
in a loop locks everyone else out for the idle timeout. This middleware, in front of /mcp, tracks
sessions from the outside (the `Mcp-Session-Id` the SDK answers with, and each later request) and,
when a new session would cross a cap, ends an existing one first through the protocol's own
`DELETE /mcp`, so a new client can get in. Only idle sessions are ended (no request in flight, no
open GET event stream: the SDK's own meaning of idle): first those that never went beyond the
handshake (what a runaway client leaves behind), then the others, least recently used first. When
every session under the cap is busy the answer is 503."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archon_mcp.api._bodies import INVALID_REQUEST, _answer, _jsonrpc_error

log = logging.getLogger(__name__)

_SESSION_HEADER = MCP_SESSION_ID_HEADER.lower().encode("latin-1")
_REPORT_EVERY = 60.0  # seconds between INFO lines about evictions
_MAX_INITIALIZE_BYTES = 256 * 1024  # an initialize request is small; anything bigger is not one
HANDSHAKE_ERA = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)  # the SDK serves only these statefully


@dataclass
class _Session:
    client: str
    last_used: float
    used: bool = False  # answered a request beyond the handshake (initialize, notifications)
    posts: int = 0  # POST/DELETE requests in flight
    streams: int = 0  # GET event streams open

    @property
    def idle(self) -> bool:
        """No request in flight, not even an open event stream (the SDK's own meaning of idle)."""
        return self.posts == 0 and self.streams == 0

    def rank(self) -> tuple[int, float]:
        """Eviction order, lower first: never used past the handshake, then least recently used."""
        return (1 if self.used else 0), self.last_used


class McpSessionLimiter:
    """Caps open MCP sessions (`max_total`, `max_per_client`), ending the least valuable one to make room."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        terminate: Callable[[Scope, Receive, Send], Awaitable[None]],
        max_total: int,
        max_per_client: int,
        idle_timeout: float,
        path: str = "/mcp",
    ) -> None:
        self.app = app
        self._terminate_app = terminate
        self.max_total = max_total
        self.max_per_client = min(max_per_client, max_total)
        self.idle_timeout = idle_timeout
        self.path = path
        self.sessions: dict[str, _Session] = {}
        self._opening: Counter[str] = Counter()  # initialize requests admitted, not yet answered
        self._evicted = 0
        self._last_report = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        session_id = headers.get(MCP_SESSION_ID_HEADER)
        version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if session_id is None and scope["method"] == "POST" and (version is None or version in HANDSHAKE_ERA):
            # Only a handshake-era `initialize` opens a session (2026-era requests are stateless).
            first = await receive()
            replay = _replaying(first, receive)
            if _is_initialize(first):
                await self._open(scope, replay, send)
            else:
                await self.app(scope, replay, send)
        elif session_id is not None and session_id in self.sessions:
            await self._use(session_id, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # --- a request that may open a session ---------------------------------------------------

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = _client_of(scope)
        if not await self._make_room(client, scope):
            await _answer(
                send,
                503,
                _jsonrpc_error(
                    None,
                    INVALID_REQUEST,
                    "too many open MCP sessions, all of them busy; retry shortly, and end sessions you no "
                    "longer need with DELETE /mcp",
                ),
            )
            return
        self._opening[client] += 1
        registered = False

        async def watch(message: Message) -> None:
            nonlocal registered
            if message["type"] == "http.response.start" and not registered:
                registered = True
                self._opening[client] -= 1
                new_id = _header(message, _SESSION_HEADER)
                if message["status"] < 400 and new_id is not None:
                    self.sessions[new_id] = _Session(client, time.monotonic())
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not registered:
                self._opening[client] -= 1
            if self._opening.get(client, 0) <= 0:
                self._opening.pop(client, None)

    async def _make_room(self, client: str, scope: Scope) -> bool:
        """Ends sessions until `client` may open one more; False when only busy sessions are left."""
        while True:
            self._forget_expired()
            mine = sum(1 for s in self.sessions.values() if s.client == client) + self._opening[client]
            total = len(self.sessions) + sum(self._opening.values())
            if mine < self.max_per_client and total < self.max_total:
                return True
            victim = self._victim(client if mine >= self.max_per_client else None)
            if victim is None:
                log.warning(
                    "refusing a new MCP session from %s: %d open (%d of them from this client), all busy",
                    client,
                    total,
                    mine,
                )
                return False
            await self._evict(victim, scope)

    def _victim(self, client: str | None) -> str | None:
        candidates = [
            (session.rank(), session_id)
            for session_id, session in self.sessions.items()
            if session.idle and (client is None or session.client == client)
        ]
        return min(candidates)[1] if candidates else None

    async def _evict(self, session_id: str, scope: Scope) -> None:
        session = self.sessions.pop(session_id)  # forgotten before any await: counts stay right
        self._evicted += 1
        log.debug("ending MCP session %s of %s to make room (least recently used)", session_id[:12], session.client)
        now = time.monotonic()
        if now - self._last_report >= _REPORT_EVERY:
            self._last_report = now
            log.info(
                "MCP session cap reached (%d in total, %d per client): ended %d least recently used idle "
                "session(s) so far",
                self.max_total,
                self.max_per_client,
                self._evicted,
            )
        delete: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": scope.get("scheme", "http"),
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                *[(k, v) for k, v in scope["headers"] if k == b"host"],
                (_SESSION_HEADER, session_id.encode("latin-1")),
            ],
            "client": scope.get("client"),
            "server": scope.get("server"),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        async def discard(_: Message) -> None:
            return None

        try:
            await self._terminate_app(delete, receive, discard)
        except Exception:  # the session may be ending by itself right now; it is gone either way
            log.debug("ending MCP session %s failed", session_id[:12], exc_info=True)

    def _forget_expired(self) -> None:
        """Drops sessions the SDK has already ended for idleness (it does not tell us)."""
        deadline = time.monotonic() - self.idle_timeout
        for session_id in [sid for sid, s in self.sessions.items() if s.idle and s.last_used < deadline]:
            del self.sessions[session_id]

    # --- a request in an open session --------------------------------------------------------

    async def _use(self, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        session = self.sessions[session_id]
        stream = scope["method"] == "GET"
        session.last_used = time.monotonic()
        if stream:
            session.streams += 1
        else:
            session.posts += 1

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 404 or (scope["method"] == "DELETE" and status < 300):
                    self.sessions.pop(session_id, None)  # ended (by the client, or already gone)
                elif scope["method"] == "POST" and status == 200:
                    session.used = True  # a request, not a notification (202): real work
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            session.last_used = time.monotonic()
            if stream:
                session.streams -= 1
            else:
                session.posts -= 1


def _is_initialize(message: Message) -> bool:
    body = message.get("body", b"") if message["type"] == "http.request" else b""
    if len(body) > _MAX_INITIALIZE_BYTES or b"initialize" not in body:
        return False
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and parsed.get("method") == "initialize"


def _replaying(first: Message, receive: Receive) -> Receive:
    """A receive that hands out `first` again, then reads on (RequestBodyMiddleware delivered the body whole)."""
    pending: list[Message] = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(message: Message, name: bytes) -> str | None:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
