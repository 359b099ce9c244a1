"""`archon-mcp hooks install|uninstall`: merged into an existing settings file, never duplicated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archon_mcp.cli import app
from archon_mcp.hooks._install import CLAUDE_EVENTS, GEMINI_EVENTS, is_ours

USER_SETTINGS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PostToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "prettier --write"}]}],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send claude"}]}],
    },
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARCHON_DATA_DIR", raising=False)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def ours(settings: dict, event: str, client: str = "claude-code") -> list[dict]:
    return [h for g in settings["hooks"].get(event, []) for h in g["hooks"] if is_ours(h, client)]


def test_install_keeps_the_users_hooks_and_runs_twice_without_duplicates(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS, indent=2))
    first = run("hooks", "install", "--client", "claude-code", "--scope", "project")
    assert first.exit_code == 0, first.output
    after_first = json.loads(path.read_text())
    second = run("hooks", "install", "--client", "claude-code", "--scope", "project")
    assert second.exit_code == 0, second.output
    assert "nothing to install" in second.output
    after_second = json.loads(path.read_text())
    assert after_first == after_second
    for event in CLAUDE_EVENTS:
        assert len(ours(after_second, event)) == 1, event
    # every entry the user had is still there
    assert after_second["model"] == "opus" and after_second["permissions"] == USER_SETTINGS["permissions"]
    assert {"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "prettier --write"}]} in after_second[
        "hooks"
    ]["PostToolUse"]
    assert after_second["hooks"]["Notification"] == USER_SETTINGS["hooks"]["Notification"]
    command = ours(after_second, "SessionStart")[0]["command"]
    assert " -m archon_mcp hook claude-code" in command and command.split()[0].startswith("/")
    backup = path.with_name("settings.json.archon-backup")
    assert json.loads(backup.read_text()) == USER_SETTINGS


def test_dry_run_prints_the_change_and_writes_nothing(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS))
    result = run("hooks", "install", "--client", "claude-code", "--scope", "project", "--dry-run")
    assert result.exit_code == 0
    assert "+" in result.stdout and "archon_mcp hook claude-code" in result.stdout
    assert json.loads(path.read_text()) == USER_SETTINGS
    assert not path.with_name("settings.json.archon-backup").exists()


def test_uninstall_removes_only_ours(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS))
    run("hooks", "install", "--client", "claude-code", "--scope", "project")
    result = run("hooks", "uninstall", "--client", "claude-code", "--scope", "project")
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text()) == USER_SETTINGS


def test_user_scope_creates_the_file(project: Path) -> None:
    result = run("hooks", "install", "--client", "claude-code")
    assert result.exit_code == 0, result.output
    settings = json.loads((project / "home" / ".claude" / "settings.json").read_text())
    assert set(settings["hooks"]) == set(CLAUDE_EVENTS)
    assert settings["hooks"]["PostToolUse"][0]["matcher"] == CLAUDE_EVENTS["PostToolUse"]


def test_gemini_install(project: Path) -> None:
    result = run("hooks", "install", "--client", "gemini-cli", "--scope", "project")
    assert result.exit_code == 0, result.output
    settings = json.loads((project / ".gemini" / "settings.json").read_text())
    assert set(settings["hooks"]) == set(GEMINI_EVENTS)
    entry = ours(settings, "AfterTool", "gemini-cli")[0]
    assert entry["timeout"] == 30_000 and entry["name"] == "archon-mcp"


def test_a_settings_file_that_is_not_json_is_left_alone(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text("{ not json")
    result = CliRunner().invoke(app, ["hooks", "install", "--client", "claude-code", "--scope", "project"])
    assert result.exit_code == 1
    assert "is not valid JSON" in result.output
    assert path.read_text() == "{ not json"
