"""Keeps secrets out of the logs: query-string values and bearer credentials never reach a log line.

The page takes its token from `/?token=...`, and any client may put one in a query string (even one
that then gets 401): uvicorn's access log would write it out. `RedactSecrets` rewrites the access
log's path to keep parameter names only, and masks `?name=value` / `&name=value` pairs and
`Bearer <credentials>` in every other record (message, arguments and traceback text)."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"'#?]{1,100}=)[^&\s\"'#]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def redact_text(text: str) -> str:
    if "=" in text:
        text = _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    if "earer" in text:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_path(path: str) -> str:
    """`/?token=abc&x=1` -> `/?token=[redacted]&x=[redacted]`: names stay, values go."""
    base, question, query = path.partition("?")
    if not question:
        return path
    names = [part.split("=", 1)[0][:100] for part in query.split("&") if part]
    return base + "?" + "&".join(f"{name}={REDACTED}" for name in names)


class RedactSecrets(logging.Filter):
    """A filter for loggers and handlers. Rewrites the record in place; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            # (client, method, path?query, http version, status): uvicorn's AccessFormatter unpacks these.
            client, method, path, version, status = args
            record.args = (client, method, redact_path(str(path)), version, status)
            return True
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


_FILTER = RedactSecrets()


def install_log_redaction() -> None:
    """Routes uvicorn's loggers (access log included) to the root handlers (stderr) through the
    filter, and puts the filter on every root handler. Idempotent."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
