"""Exact parsing of `Host` and `Origin` header values.

The DNS-rebinding and same-origin checks compare parsed (scheme, host, port) values, never string
prefixes: `localhost:8765:evil.com`, `127.0.0.1:abc` and `http://localhost:1.evil.com` are not hosts
or origins at all, so nothing can match them."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NUMERIC = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]{1,5}")
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Authority:
    """`host[:port]`: host lower-cased (an IPv6 address without brackets, in its compressed form)."""

    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@dataclass(frozen=True)
class Origin:
    scheme: str
    authority: Authority

    @property
    def effective_port(self) -> int | None:
        return self.authority.port if self.authority.port is not None else DEFAULT_PORTS.get(self.scheme)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}"


def _parse_port(text: str) -> tuple[bool, int | None]:
    """'' -> (True, None): no port; ':8765' -> (True, 8765); anything else -> (False, None)."""
    if text == "":
        return True, None
    if not text.startswith(":") or not _PORT.fullmatch(text[1:]):
        return False, None
    port = int(text[1:])
    return (True, port) if 1 <= port <= 65535 else (False, None)


def parse_authority(value: str) -> Authority | None:
    """A `Host` header value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), or None if it is not exactly one."""
    if not value or len(value) > 300:
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        try:
            host = str(ipaddress.IPv6Address(value[1:end]))
        except ValueError:
            return None
        rest = value[end + 1 :]
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
        host = name.lower()
        if not _HOSTNAME.fullmatch(host):
            return None
        if _NUMERIC.fullmatch(host):
            try:
                host = str(ipaddress.IPv4Address(host))
            except ValueError:
                return None  # 127.1, 999.0.0.1, 1.2.3: not an address and not a name
    ok, port = _parse_port(rest)
    return Authority(host, port) if ok else None


def parse_origin(value: str) -> Origin | None:
    """An `Origin` header value (`http://host[:port]`, `https://...`), or None (also for `null`)."""
    match = _ORIGIN.fullmatch(value or "")
    if match is None:
        return None
    scheme = match["scheme"].lower()
    if scheme not in DEFAULT_PORTS:
        return None
    authority = parse_authority(match["authority"])
    return None if authority is None else Origin(scheme, authority)


@dataclass(frozen=True)
class HostRule:
    """One accepted host: `ports` None accepts any port (or none); otherwise exactly those (None = no port given)."""

    host: str
    ports: frozenset[int | None] | None = None

    def matches(self, authority: Authority) -> bool:
        return authority.host == self.host and (self.ports is None or authority.port in self.ports)


def host_rule(entry: str) -> HostRule | None:
    """A rule from an ARCHON_ALLOWED_HOSTS entry: `name` (or `name:*`) accepts any port, `name:port`
    exactly that port; None when the entry is neither."""
    entry = entry.strip()
    if entry.endswith(":*"):
        entry = entry[:-2]
    authority = parse_authority(entry)
    if authority is None:
        return None
    if authority.port is None:
        return HostRule(authority.host)
    return HostRule(authority.host, frozenset({authority.port}))
