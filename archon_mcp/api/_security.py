"""HTTP exposure: bearer-token auth, allowed Host/Origin (DNS-rebinding protection), the bind rule."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from archon_mcp._hosts import Authority, HostRule, Origin, host_rule, parse_authority, parse_origin
from archon_mcp.config import Settings

log = logging.getLogger(__name__)

# Paths that serve data and need the token. The web page and its static files carry no data.
PROTECTED_PREFIXES = ("/mcp", "/sse", "/messages", "/api")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def exposure_problem(settings: Settings, *, insecure: bool) -> str | None:
    """Why serving HTTP with these settings would be unsafe, or None when it is fine."""
    if is_loopback(settings.host) or insecure or settings.resolved_auth_token is not None:
        return None
    return (
        f"refusing to listen on {settings.host}: that address is reachable from other machines and no auth "
        "token is set, so anyone on the network could read and write your agents' memory. Set "
        "ARCHON_AUTH_TOKEN (or ARCHON_AUTH_TOKEN_FILE) to require a bearer token, bind 127.0.0.1 instead, "
        "or pass --insecure to serve without authentication anyway."
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _own_names() -> set[str]:
    """Names and addresses of this machine, accepted when binding every interface."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            names.add(str(info[4][0]))
    except OSError:
        pass
    return {n for n in names if n}


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Accept Host/Origin naming localhost, the bound address (or this machine when binding all
    interfaces) and ARCHON_ALLOWED_HOSTS; anything else is a DNS-rebinding attempt."""
    port = settings.port
    hosts: list[str] = []
    for name in _LOOPBACK_NAMES:
        hosts += [name, f"{name}:*"]
    bound = {settings.host} if settings.host not in _WILDCARD_HOSTS else _own_names()
    for name in sorted(bound):
        hosts += [_bracket(name), f"{_bracket(name)}:{port}"]
    for extra in settings.allowed_hosts:
        hosts.append(extra)
        if not extra.endswith("]") and ":" not in extra.rsplit("]", 1)[-1]:
            hosts.append(f"{extra}:*")  # no port given: accept any port of that name
    hosts = list(dict.fromkeys(hosts))
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    origins += [o for o in settings.allowed_origins if o not in origins]
    # Our HostCheckMiddleware parses and matches these exactly in front of every path; the SDK's own
    # (prefix-matching) check inside the MCP transports then sees only requests that passed ours.
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def _is_protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


async def _send(
    send: Send, status: int, payload: bytes, content_type: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    start_headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": payload})


async def _send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]]) -> None:
    await _send(send, status, json.dumps(body).encode(), b"application/json", headers)


class HostPolicy:
    """Which `Host` and `Origin` values are accepted, compared as parsed (host, port) values.

    Every path: the Host must name localhost (any port), the bound address (or this machine when
    binding all interfaces) or an ARCHON_ALLOWED_HOSTS entry; a present Origin must name one of those
    or be listed in ARCHON_ALLOWED_ORIGINS. /api additionally accepts only its own origin (same
    scheme, host and port as the request) and ARCHON_ALLOWED_ORIGINS."""

    def __init__(self, settings: Settings) -> None:
        rules = [HostRule(name) for name in ("localhost", "127.0.0.1", "::1")]
        bound = {settings.host} if settings.host not in _WILDCARD_HOSTS else _own_names()
        for name in sorted(bound):
            authority = parse_authority(_bracket(name))
            if authority is not None and authority.port is None:
                rules.append(HostRule(authority.host, frozenset({None, settings.port})))
        rules += [rule for rule in map(host_rule, settings.allowed_hosts) if rule is not None]  # checked in config
        self.rules = tuple(rules)
        self.extra_origins = frozenset(
            _origin_key(origin) for origin in map(parse_origin, settings.allowed_origins) if origin is not None
        )

    def host_allowed(self, authority: Authority) -> bool:
        return any(rule.matches(authority) for rule in self.rules)

    def origin_allowed(self, origin: Origin) -> bool:
        return _origin_key(origin) in self.extra_origins or self.host_allowed(origin.authority)

    def api_origin_allowed(self, origin: Origin, scheme: str, host: Authority) -> bool:
        own = Origin(scheme, host)
        return _origin_key(origin) == _origin_key(own) or _origin_key(origin) in self.extra_origins


def _origin_key(origin: Origin) -> tuple[str, str, int | None]:
    return origin.scheme, origin.authority.host, origin.effective_port


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


async def _refuse(send: Send, path: str, status: int, kind: str, message: str) -> None:
    if _is_api(path):
        await _send_json(send, status, {"error": {"type": kind, "message": message}}, [])
        return
    await _send(send, status, message.encode(), b"text/plain; charset=utf-8", [])


class HostCheckMiddleware:
    """DNS-rebinding protection for every path (the SDK applies it to the MCP endpoints only), and the
    same-origin rule for /api: a page on another origin can neither read nor write through the API."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not await self._allowed(scope, send):
            return
        await self.app(scope, receive, send)

    async def _allowed(self, scope: Scope, send: Send) -> bool:
        headers = Headers(scope=scope)
        path = scope["path"]
        hosts = headers.getlist("host")
        host = parse_authority(hosts[0]) if len(hosts) == 1 else None
        if host is None or not self.policy.host_allowed(host):
            shown = ", ".join(h[:80] for h in hosts) or "none"
            log.warning("refused a request with Host %r (not an allowed host)", shown)
            await _refuse(send, path, 421, "invalid_host", "Invalid Host header")
            return False
        origins = headers.getlist("origin")
        if origins:
            origin = parse_origin(origins[0]) if len(origins) == 1 else None
            if origin is None or not self.policy.origin_allowed(origin):
                log.warning("refused a request with Origin %r (not an allowed origin)", origins[0][:80])
                await _refuse(send, path, 403, "forbidden_origin", "Invalid Origin header")
                return False
            if _is_api(path) and not self.policy.api_origin_allowed(origin, scope.get("scheme", "http"), host):
                await _refuse(
                    send,
                    path,
                    403,
                    "forbidden_origin",
                    f"cross-origin request refused: Origin {origins[0][:80]} is not this server's origin "
                    f"({scope.get('scheme', 'http')}://{host}); list it in ARCHON_ALLOWED_ORIGINS to allow it",
                )
                return False
        elif _is_api(path) and headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            # A browser loading /api from another site's page without CORS (an <img>, a <script>).
            await _refuse(send, path, 403, "forbidden_origin", "cross-origin request refused")
            return False
        return True


class BearerAuthMiddleware:
    """Requires `Authorization: Bearer <token>` on data paths; a 401 says nothing about why."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    def _authorized(self, scope: Scope) -> bool:
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        scheme, _, credentials = header.partition(b" ")
        # compare_digest takes the same time wherever the first difference is.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_protected(scope["path"]) and not self._authorized(scope):
            await _send_json(
                send,
                401,
                {"error": {"type": "unauthorized", "message": "authentication required"}},
                [(b"www-authenticate", b'Bearer realm="archon-mcp"')],
            )
            return
        await self.app(scope, receive, send)
