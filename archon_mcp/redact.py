"""Secrets out of stored text: API keys and tokens, bearer headers, passwords in URLs and connection
strings, private key blocks and `.env`-style `SECRET=...` lines become `[REDACTED:kind]`.

Applied to everything a client hook records (always, unless ARCHON_REDACT=off) and, with
ARCHON_REDACT=all, to what the tools and the REST API store. Standard library only: the hook
process imports it on every call. The patterns, and what they leave alone, are listed in
SECURITY.md; each is pinned by tests/unit/test_redact.py.

Ordinary text survives: code, UUIDs, git and sha256 hashes, `password` as a word, `token=None`,
`api_key=settings.api_key`, `${TOKEN}`, and `http://host:8080/` (a port, not a password).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MARK = "[REDACTED:{}]"
# Longer text is cut to this before the patterns run (a hook payload can carry megabytes of tool
# output); callers truncate far below it anyway.
MAX_SCAN_CHARS = 256 * 1024

_TOKEN_END = r"(?![A-Za-z0-9_\-])"

# (kind, pattern): the first group, when there is one, is kept in front of the marker.
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic_key", re.compile(r"(?<![A-Za-z0-9_\-])sk-ant-[A-Za-z0-9_\-]{20,}")),
    ("openai_key", re.compile(r"(?<![A-Za-z0-9_\-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}" + _TOKEN_END)),
    ("github_token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("slack_token", re.compile(r"(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9\-]{10,}")),
    ("google_api_key", re.compile(r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}" + _TOKEN_END)),
    ("stripe_key", re.compile(r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("jwt", re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
)

_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|\Z)",
    re.DOTALL,
)
# `Authorization: Bearer abc`, `authorization=Basic abc`, and a bare `Bearer abc...` (8+ characters).
_AUTH_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|digest)?\s*)([^\s\"',;]{4,})"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/]{8,}=*)")
# scheme://user:password@host: the password goes, the user and host stay.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]*:)([^\s/\"'<>?#]+)(@)")

# Names that hold a secret: the whole name, or its last part after _ - . (DB_PASSWORD, GITHUB_TOKEN,
# AWS_SECRET_ACCESS_KEY, client-secret), never a name that merely contains one (max_tokens, token_count).
_SECRET_WORD = (
    r"(?:secret|password|passwd|pwd|passphrase|token|api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?key"
    r"|private[_\-]?key|client[_\-]?secret|auth[_\-]?token|credentials?)"
)
_SECRET_NAME = r"(?:[A-Za-z0-9]+[_\-.])*" + _SECRET_WORD
_SECRET_KEY = re.compile(r"(?i)^" + _SECRET_NAME + r"$")
# A .env / shell / YAML line: `API_KEY=...`, `export TOKEN="..."`, `password: hunter2` (to the end of the line).
_ENV_LINE = re.compile(r"(?im)^([ \t]*(?:export[ \t]+)?[\"']?" + _SECRET_NAME + r"[\"']?[ \t]*[=:][ \t]*)(\S[^\r\n]*)$")
# Inline `name=value` (DSNs `password=x`, query strings `?token=x`, flags `--password=x`) and
# JSON/YAML-ish `"name": "value"`.
_INLINE = re.compile(r"(?i)(?<![A-Za-z0-9])(" + _SECRET_NAME + r"=)([^\s\"'&;,)\]}]+)")
_QUOTED = re.compile(r"(?i)([\"']" + _SECRET_NAME + r"[\"']\s*:\s*[\"'])([^\"'\r\n]+)([\"'])")
# Values that are code, not secrets: None, true, ${VAR}, $VAR, settings.api_key, os.environ["X"], f(x).
_NOT_A_SECRET = re.compile(
    r"(?i)^(?:none|null|nil|true|false|undefined|\"\"|''|\*+|x+|\.\.\.|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"
    r"|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|.*[(\[].*|\[REDACTED:[a-z_]+\].*)$"
)


def _mark(kind: str) -> str:
    return MARK.format(kind)


def _keep_code(kind: str, value_group: int) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        value = match.group(value_group).strip().strip("\"'")
        if not value or _NOT_A_SECRET.match(value):
            return match.group(0)
        groups = list(match.groups())
        groups[value_group - 1] = _mark(kind)
        return "".join(g or "" for g in groups)

    return replace


def redact_secrets(text: str) -> str:
    """`text` with every secret the patterns know replaced by `[REDACTED:kind]`. Idempotent."""
    if not text:
        return text
    if len(text) > MAX_SCAN_CHARS:
        text = text[:MAX_SCAN_CHARS]
    if "PRIVATE KEY" in text:
        text = _PEM.sub(_mark("private_key"), text)
    for kind, pattern in _TOKENS:
        text = pattern.sub(_mark(kind), text)
    lowered = text.lower()
    if "authoriz" in lowered:
        text = _AUTH_HEADER.sub(_keep_code("authorization", 2), text)
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: m.group(1) + _mark("bearer"), text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + _mark("password") + m.group(3), text)
    if "=" in text or ":" in text:
        text = _ENV_LINE.sub(_keep_code("secret", 2), text)
        text = _QUOTED.sub(_keep_code("secret", 2), text)
        text = _INLINE.sub(_keep_code("secret", 2), text)
    return text


def is_secret_key(name: str) -> bool:
    """True for a mapping key whose value is a secret by its name (`password`, `GITHUB_TOKEN`, `api-key`)."""
    return bool(_SECRET_KEY.match(name))


def redact_value(value: Any, _depth: int = 0) -> Any:
    """A JSON value with secrets redacted: every string by `redact_secrets`, and the string value of a
    key named like a secret (`{"password": "hunter2"}`) replaced whole. Keys themselves are kept."""
    if isinstance(value, str):
        return redact_secrets(value)
    if _depth > 64:
        return value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and isinstance(item, str) and item and is_secret_key(key):
                stripped = item.strip()
                out[key] = item if _NOT_A_SECRET.match(stripped) or not stripped else _mark("secret")
            else:
                out[key] = redact_value(item, _depth + 1)
        return out
    if isinstance(value, list):
        return [redact_value(item, _depth + 1) for item in value]
    return value
