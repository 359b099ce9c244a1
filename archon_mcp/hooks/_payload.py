"""One client hook payload -> one client-neutral record for the hook helper (or None: nothing to record).

Standard library only: this runs in the short-lived hook process on every call. Everything that
leaves here is truncated and (unless ARCHON_REDACT=off) redacted, so neither the spool files nor
the database ever hold a secret the patterns know.

Record format (JSON):
    {"v": 1, "client": "claude-code", "agent": "claude", "session": <client session id>,
     "cwd": ..., "project": <name or null>, "action": "start" | "events" | "checkpoint" | "turn" | "end",
     "source"/"trigger"/"reason": ..., "events": [{"event_type", "event_data", "key"}],
     "todos": {"old": [...] | null, "new": [...]}, "want_context": bool, "at": <ISO time>}
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archon_mcp.redact import redact_secrets, redact_value

CLIENTS = {"claude-code": "claude", "gemini-cli": "gemini"}
RECORD_VERSION = 1
_EXIT_CODE = re.compile(r"(?i)\bexit(?:ed with)?(?: non-zero status)?(?: code)?[:\s]+(-?\d+)")


class PayloadError(ValueError):
    """The payload is not one this client sends (reason goes to the hook log)."""


class Limits:
    def __init__(self, max_text: int = 2000, redact: bool = True) -> None:
        self.max_text = max_text
        self.redact = redact

    @classmethod
    def from_env(cls) -> Limits:
        try:
            max_text = max(100, min(100_000, int(os.environ.get("ARCHON_HOOK_MAX_TEXT_CHARS", "2000"))))
        except ValueError:
            max_text = 2000
        return cls(max_text=max_text, redact=os.environ.get("ARCHON_REDACT", "hooks").strip().lower() != "off")

    def text(self, value: Any, limit: int | None = None) -> str:
        """Redacted, then cut to `limit` characters (the head: the command or the first lines of an error)."""
        if value is None:
            return ""
        text = value if isinstance(value, str) else str(value)
        limit = limit or self.max_text
        text = text[: limit * 4]
        if self.redact:
            text = redact_secrets(text)
        text = text.strip()
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def tail(self, value: Any, limit: int) -> str:
        """Like `text`, but keeps the end (test output ends with the failures and the totals)."""
        text = value if isinstance(value, str) else str(value or "")
        text = text[-limit * 4 :]
        if self.redact:
            text = redact_secrets(text)
        text = text.strip()
        return text if len(text) <= limit else "…" + text[-(limit - 1) :]

    def value(self, value: Any) -> Any:
        return redact_value(value) if self.redact else value


# --- project from cwd ---------------------------------------------------------------------------------
def project_of(cwd: str | None) -> str | None:
    """The git root's folder name (walking up for `.git`), else the folder's own name."""
    if not cwd:
        return None
    try:
        path = Path(cwd).expanduser().resolve()
    except (OSError, RuntimeError):
        return None
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate.name or None
    return path.name or None


def _task_id(todo: dict[str, Any]) -> str:
    raw = todo.get("id")
    if isinstance(raw, str | int) and str(raw).strip():
        return str(raw).strip()[:100]
    import hashlib  # only for todo lists without ids

    content = str(todo.get("content") or todo.get("description") or todo.get("subject") or "")
    return "todo-" + hashlib.sha1(content.strip().lower().encode()).hexdigest()[:10]


def _todos(value: Any, limits: Limits) -> list[dict[str, str]] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value[:200]:
        if not isinstance(item, dict):
            continue
        title = limits.text(item.get("content") or item.get("description") or item.get("subject"), 300)
        if not title:
            continue
        status = str(item.get("status") or "pending").strip().lower()[:30]
        out.append({"task_id": _task_id(item), "title": title, "status": status})
    return out


def _event(event_type: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": event_type,
        "event_data": {k: v for k, v in data.items() if v not in (None, "")},
    }
    if key:
        event["key"] = key[:200]
    return event


def _base(client: str, payload: dict[str, Any], action: str) -> dict[str, Any]:
    session = payload.get("session_id")
    if not isinstance(session, str) or not session.strip():
        raise PayloadError("the payload has no session_id")
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    return {
        "v": RECORD_VERSION,
        "id": os.urandom(8).hex(),  # the events' dedupe key when the client gives none (a record sent twice)
        "client": client,
        "agent": CLIENTS[client],
        "session": session.strip()[:200],
        "cwd": cwd,
        "project": project_of(cwd),
        "action": action,
        "events": [],
        "want_context": False,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the payload, or {} when the client sent something else (or nothing)."""
    return value if isinstance(value, dict) else {}


def _file_path(tool_input: dict[str, Any]) -> str | None:
    for key in ("file_path", "notebook_path", "path", "absolute_path"):
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _shell(
    record: dict[str, Any],
    limits: Limits,
    command: str,
    *,
    failed: bool,
    exit_status: int | None,
    error: str,
    tool: str,
    key: str | None,
    interrupted: bool = False,
) -> None:
    short = limits.text(command, 500)
    if not short:
        return
    data: dict[str, Any] = {"command": short, "exit_status": exit_status, "tool": tool}
    if interrupted:
        data["interrupted"] = True
    record["events"].append(_event("command_run", data, key and key + ":run"))
    if failed and not interrupted:
        record["events"].append(
            _event(
                "error_encountered",
                {
                    "error": limits.tail(error, limits.max_text) or f"exit status {exit_status}",
                    "command": short,
                    "exit_status": exit_status,
                    "tool": tool,
                },
                key and key + ":error",
            )
        )
    elif not failed:
        record["resolve_command"] = short  # a command that passes resolves its earlier failure


# --- Claude Code --------------------------------------------------------------------------------------
CLAUDE_EDIT_TOOLS = {"Edit", "Write", "MultiEdit", "NotebookEdit"}


def _claude_tool(record: dict[str, Any], payload: dict[str, Any], limits: Limits, failed: bool) -> None:
    tool = payload.get("tool_name")
    tool_input = _object(payload.get("tool_input"))
    response = payload.get("tool_response")
    key = payload.get("tool_use_id") if isinstance(payload.get("tool_use_id"), str) else None
    if tool in CLAUDE_EDIT_TOOLS and not failed:
        path = _file_path(tool_input)
        if path:
            record["events"].append(_event("file_edited", {"path": limits.text(path, 1000), "tool": tool}, key))
    elif tool == "Bash":
        command = tool_input.get("command") or ""
        exit_status: int | None = 0
        error = ""
        interrupted = bool(payload.get("is_interrupt"))
        if isinstance(response, dict):
            for name in ("exitCode", "exit_code", "returncode"):
                if isinstance(response.get(name), int):
                    exit_status = response[name]
            interrupted = interrupted or bool(response.get("interrupted"))
            if exit_status:
                failed = True
                error = "\n".join(str(response.get(k) or "") for k in ("stderr", "stdout")).strip()
        if failed:
            error = error or str(payload.get("error") or "")
            found = _EXIT_CODE.search(error)
            exit_status = int(found.group(1)) if found else (exit_status or 1)
        _shell(
            record,
            limits,
            command,
            failed=failed,
            exit_status=exit_status,
            error=error,
            tool=tool,
            key=key,
            interrupted=interrupted,
        )
    elif tool == "TodoWrite" and not failed:
        old = new = None
        if isinstance(response, dict):
            old = _todos(response.get("oldTodos"), limits)
            new = _todos(response.get("newTodos"), limits)
        if new is None:
            new = _todos(tool_input.get("todos"), limits)
        if new is not None:
            record["todos"] = {"old": old, "new": new}


def from_claude(payload: dict[str, Any], limits: Limits) -> dict[str, Any] | None:
    event = payload.get("hook_event_name")
    if event == "SessionStart":
        record = _base("claude-code", payload, "start")
        record["source"] = str(payload.get("source") or "startup")[:30]
        record["want_context"] = True
        return record
    if event == "UserPromptSubmit":
        record = _base("claude-code", payload, "events")
        prompt = limits.text(payload.get("prompt"))
        if not prompt:
            return None
        record["events"].append(_event("user_prompt", {"prompt": prompt}))
        return record
    if event in ("PostToolUse", "PostToolUseFailure"):
        record = _base("claude-code", payload, "events")
        _claude_tool(record, payload, limits, failed=event == "PostToolUseFailure")
        return record if record["events"] or "todos" in record else None
    if event in ("TaskCreated", "TaskCompleted"):
        record = _base("claude-code", payload, "events")
        task_id = str(payload.get("task_id") or "").strip()[:100] or None
        title = limits.text(payload.get("task_subject"), 300)
        kind = "task_created" if event == "TaskCreated" else "task_completed"
        record["events"].append(_event(kind, {"task_id": task_id, "title": title}, f"{kind}:{task_id}"))
        return record
    if event == "PreCompact":
        record = _base("claude-code", payload, "checkpoint")
        record["trigger"] = str(payload.get("trigger") or "")[:30]
        return record
    if event == "Stop":
        return _base("claude-code", payload, "turn")
    if event == "SessionEnd":
        record = _base("claude-code", payload, "end")
        record["reason"] = str(payload.get("reason") or "")[:60]
        return record
    if isinstance(event, str):
        return None  # an event we do not record (PreToolUse, Notification, SubagentStop, ...)
    raise PayloadError("the payload has no hook_event_name")


# --- Gemini CLI ---------------------------------------------------------------------------------------
GEMINI_EDIT_TOOLS = {"write_file", "replace", "edit", "smart_edit", "write_new_file"}
GEMINI_SHELL_TOOLS = {"run_shell_command", "shell"}


def _gemini_text(response: Any) -> str:
    if isinstance(response, dict):
        parts = []
        for key in ("error", "llmContent", "returnDisplay", "output"):
            value = response.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("text") or ""
            if isinstance(value, list):
                value = "\n".join(str(v.get("text", v)) if isinstance(v, dict) else str(v) for v in value)
            if value:
                parts.append(str(value))
        return "\n".join(parts)
    return str(response or "")


def _gemini_tool(record: dict[str, Any], payload: dict[str, Any], limits: Limits) -> None:
    tool = payload.get("tool_name")
    tool_input = _object(payload.get("tool_input"))
    response = payload.get("tool_response")
    error = response.get("error") if isinstance(response, dict) else None
    if tool in GEMINI_EDIT_TOOLS and not error:
        path = _file_path(tool_input)
        if path:
            record["events"].append(_event("file_edited", {"path": limits.text(path, 1000), "tool": tool}))
    elif tool in GEMINI_SHELL_TOOLS:
        text = _gemini_text(response)
        found = re.search(r"(?i)exit code:\s*(-?\d+)", text)
        exit_status = int(found.group(1)) if found else (1 if error else 0)
        _shell(
            record,
            limits,
            tool_input.get("command") or "",
            failed=bool(error) or exit_status != 0,
            exit_status=exit_status,
            error=text,
            tool=tool,
            key=None,
        )
    elif tool == "write_todos" and not error:
        new = _todos(tool_input.get("todos"), limits)
        if new is not None:
            record["todos"] = {"old": None, "new": new}


def from_gemini(payload: dict[str, Any], limits: Limits) -> dict[str, Any] | None:
    event = payload.get("hook_event_name")
    if event == "SessionStart":
        record = _base("gemini-cli", payload, "start")
        record["source"] = str(payload.get("source") or payload.get("trigger") or "startup")[:30]
        record["want_context"] = True
        return record
    if event == "BeforeAgent":
        prompt = limits.text(payload.get("prompt"))
        if not prompt:
            return None
        record = _base("gemini-cli", payload, "events")
        record["events"].append(_event("user_prompt", {"prompt": prompt}))
        return record
    if event == "AfterTool":
        record = _base("gemini-cli", payload, "events")
        _gemini_tool(record, payload, limits)
        return record if record["events"] or "todos" in record else None
    if event == "PreCompress":
        record = _base("gemini-cli", payload, "checkpoint")
        record["trigger"] = str(payload.get("trigger") or "")[:30]
        return record
    if event == "AfterAgent":
        return _base("gemini-cli", payload, "turn")
    if event == "SessionEnd":
        record = _base("gemini-cli", payload, "end")
        record["reason"] = str(payload.get("reason") or payload.get("trigger") or "")[:60]
        return record
    if isinstance(event, str):
        return None
    raise PayloadError("the payload has no hook_event_name")


ADAPTERS: dict[str, Callable[[dict[str, Any], Limits], dict[str, Any] | None]] = {
    "claude-code": from_claude,
    "gemini-cli": from_gemini,
}


def to_record(client: str, payload: Any, limits: Limits | None = None) -> dict[str, Any] | None:
    if client not in ADAPTERS:
        raise PayloadError(f"unknown client {client!r}; use one of {', '.join(ADAPTERS)}")
    if not isinstance(payload, dict):
        raise PayloadError(f"the payload is a JSON {type(payload).__name__}, not an object")
    return ADAPTERS[client](payload, limits or Limits.from_env())


def context_output(client: str, markdown: str) -> str:
    """What a SessionStart hook prints: the same shape for both clients (their documented context form)."""
    import json

    return json.dumps(
        {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": markdown}},
        ensure_ascii=False,
    )
