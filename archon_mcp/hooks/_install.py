"""`archon-mcp hooks install|uninstall`: our hook entries in a client's settings JSON.

Every entry the user already has is kept; ours are recognised by their command (`... -m archon_mcp
hook <client>`), so running install twice changes nothing and uninstall removes only ours. The
file is written whole and renamed into place, after a copy of the old one (`<file>.archon-backup`).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLAUDE_EVENTS: dict[str, str | None] = {
    # event: matcher (None: the event takes none)
    "SessionStart": None,
    "UserPromptSubmit": None,
    "PostToolUse": "Edit|Write|MultiEdit|NotebookEdit|Bash|TodoWrite",
    "PostToolUseFailure": "Bash",
    "PreCompact": None,
    "Stop": None,
    "SessionEnd": None,
}
GEMINI_EVENTS: dict[str, str | None] = {
    "SessionStart": None,
    "BeforeAgent": None,
    "AfterTool": "write_file|replace|edit|run_shell_command|write_todos",
    "PreCompress": None,
    "AfterAgent": None,
    "SessionEnd": None,
}
CLIENT_EVENTS = {"claude-code": CLAUDE_EVENTS, "gemini-cli": GEMINI_EVENTS}
# Seconds for Claude Code, milliseconds for Gemini CLI: a SessionStart that must start the helper
# (and migrate a new store) takes a few seconds once; every other call answers in milliseconds.
TIMEOUTS = {"claude-code": 30, "gemini-cli": 30_000}


class InstallError(Exception):
    """Something the user must fix first (a settings file that is not JSON, say)."""


@dataclass
class Change:
    path: Path
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{self.path} (now)",
                tofile=f"{self.path} (after)",
            )
        )


def settings_path(client: str, scope: str, project_dir: Path | None = None, home: Path | None = None) -> Path:
    folder = {"claude-code": ".claude", "gemini-cli": ".gemini"}[client]
    if scope == "user":
        return (home or Path.home()) / folder / "settings.json"
    return (project_dir or Path.cwd()) / folder / "settings.json"


def hook_command(client: str) -> str:
    """The command we write: this interpreter, absolute, running our module (works from any cwd and
    venv), with ARCHON_DATA_DIR when one is set so hooks use the same store as `serve`."""
    command = f"{shlex.quote(sys.executable)} -m archon_mcp hook {client}"
    data_dir = os.environ.get("ARCHON_DATA_DIR", "").strip()
    if data_dir:
        command = f"ARCHON_DATA_DIR={shlex.quote(str(Path(data_dir).expanduser().resolve()))} {command}"
    return command


def is_ours(hook: Any, client: str) -> bool:
    command = hook.get("command") if isinstance(hook, dict) else None
    return isinstance(command, str) and (
        f"archon_mcp hook {client}" in command or f"archon-mcp hook {client}" in command
    )


def _read(path: Path) -> tuple[str | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, {}
    if not text.strip():
        return text, {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InstallError(f"{path} is not valid JSON ({exc}); fix or move it, then run this again") from None
    if not isinstance(data, dict):
        raise InstallError(f"{path} holds a JSON {type(data).__name__}, not an object; fix it first")
    return text, data


def _without_ours(settings: dict[str, Any], client: str) -> dict[str, Any]:
    out = copy.deepcopy(settings)
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        return out
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                remaining = [h for h in group["hooks"] if not is_ours(h, client)]
                if not remaining and len(remaining) != len(group["hooks"]):
                    continue  # a group that only held ours
                group = {**group, "hooks": remaining}
            kept.append(group)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if not hooks:
        del out["hooks"]
    return out


def with_ours(settings: dict[str, Any], client: str) -> dict[str, Any]:
    """`settings` with exactly one group of ours per event (any old ones of ours replaced)."""
    out = _without_ours(settings, client)
    hooks = out.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError('the settings file\'s "hooks" is not an object; fix it first')
    command = hook_command(client)
    for event, matcher in CLIENT_EVENTS[client].items():
        entry: dict[str, Any] = {"type": "command", "command": command, "timeout": TIMEOUTS[client]}
        if client == "gemini-cli":
            entry = {"name": "archon-mcp", **entry, "description": "archon-mcp: record this session"}
        group: dict[str, Any] = {"hooks": [entry]}
        if matcher is not None:
            group = {"matcher": matcher, **group}
        existing = hooks.get(event)
        if existing is not None and not isinstance(existing, list):
            raise InstallError(f"the settings file's hooks.{event} is not a list; fix it first")
        hooks[event] = [*(existing or []), group]
    return out


def plan(client: str, path: Path, *, remove: bool = False) -> Change:
    before, settings = _read(path)
    updated = _without_ours(settings, client) if remove else with_ours(settings, client)
    if before is not None and updated == settings:
        return Change(path, before, before)  # nothing to do: keep the user's formatting
    return Change(path, before, json.dumps(updated, indent=2, ensure_ascii=False) + "\n")


def apply(change: Change) -> Path | None:
    """Write the change atomically; the backup's path (None when there was no file)."""
    path = change.path
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if change.before is not None:
        backup = path.with_name(path.name + ".archon-backup")
        shutil.copy2(path, backup)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(change.after)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(partial, path.stat().st_mode & 0o777)
        os.replace(partial, path)
    except BaseException:
        with_suppressed_unlink(partial)
        raise
    return backup


def with_suppressed_unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
