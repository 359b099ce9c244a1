"""HTTP exposure: bearer-token auth, allowed Host/Origin (DNS-rebinding protection), the bind rule."""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from archon_mcp.config import Settings

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
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def _is_protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


async def _send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class HostCheckMiddleware:
    """DNS-rebinding protection for every path (the SDK applies it to the MCP endpoints only)."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self._checker = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = await self._checker.validate_request(Request(scope), is_post=False)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
