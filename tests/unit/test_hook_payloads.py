"""Client hook payloads (fixtures from the Claude Code and Gemini CLI hook references) -> hook records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archon_mcp.hooks._payload import Limits, PayloadError, project_of, to_record

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hooks"


def payloads(name: str, cwd: Path) -> dict[str, dict[str, Any]]:
    text = (FIXTURES / name).read_text().replace("{cwd}", str(cwd))
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "billing-api"
    (root / ".git").mkdir(parents=True)
    (root / "src" / "deep").mkdir(parents=True)
    return root


@pytest.fixture
def claude(repo: Path) -> dict[str, dict[str, Any]]:
    return payloads("claude_code.json", repo / "src" / "deep")


@pytest.fixture
def gemini(repo: Path) -> dict[str, dict[str, Any]]:
    return payloads("gemini_cli.json", repo)


def events_of(record: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    assert record is not None
    return [(e["event_type"], e["event_data"]) for e in record["events"]]


def test_project_is_the_git_root_name_else_the_folder(repo: Path, tmp_path: Path) -> None:
    assert project_of(str(repo / "src" / "deep")) == "billing-api"
    plain = tmp_path / "notes" / "drafts"
    plain.mkdir(parents=True)
    assert project_of(str(plain)) == "drafts"
    assert project_of(None) is None


def test_claude_session_start_wants_context(claude: dict[str, Any]) -> None:
    record = to_record("claude-code", claude["SessionStart"], Limits())
    assert record is not None
    assert (record["action"], record["agent"], record["session"]) == ("start", "claude", "abc123")
    assert record["project"] == "billing-api" and record["source"] == "startup" and record["want_context"]


def test_claude_prompt_is_an_event(claude: dict[str, Any]) -> None:
    assert events_of(to_record("claude-code", claude["UserPromptSubmit"], Limits())) == [
        ("user_prompt", {"prompt": "Write a function to calculate the factorial of a number"})
    ]


def test_claude_prompt_is_truncated_and_redacted(claude: dict[str, Any]) -> None:
    payload = {**claude["UserPromptSubmit"], "prompt": "use sk-ant-api03-" + "Q" * 40 + " then " + "x" * 5000}
    [(kind, data)] = events_of(to_record("claude-code", payload, Limits(max_text=300)))
    assert kind == "user_prompt"
    assert "QQQQ" not in data["prompt"] and "[REDACTED:anthropic_key]" in data["prompt"]
    assert len(data["prompt"]) == 300 and data["prompt"].endswith("…")


def test_redaction_can_be_turned_off(claude: dict[str, Any]) -> None:
    payload = {**claude["UserPromptSubmit"], "prompt": "PASSWORD=hunter2"}
    [(_, data)] = events_of(to_record("claude-code", payload, Limits(redact=False)))
    assert data["prompt"] == "PASSWORD=hunter2"


@pytest.mark.parametrize("name", ["PostToolUse_Write", "PostToolUse_Edit"])
def test_claude_edits_record_the_path(claude: dict[str, Any], name: str) -> None:
    record = to_record("claude-code", claude[name], Limits())
    [(kind, data)] = events_of(record)
    assert kind == "file_edited" and data["path"] == "/path/to/file.txt"
    assert record["events"][0]["key"].startswith("toolu_01")  # a retried hook is recognised by it


def test_claude_command_that_passes(claude: dict[str, Any]) -> None:
    record = to_record("claude-code", claude["PostToolUse_Bash"], Limits())
    assert events_of(record) == [("command_run", {"command": "npm test", "exit_status": 0, "tool": "Bash"})]
    assert record["resolve_command"] == "npm test"


def test_claude_command_that_fails_is_an_error(claude: dict[str, Any]) -> None:
    record = to_record("claude-code", claude["PostToolUseFailure_Bash"], Limits())
    kinds = events_of(record)
    assert kinds[0] == ("command_run", {"command": "npm test", "exit_status": 1, "tool": "Bash"})
    assert kinds[1][0] == "error_encountered"
    assert kinds[1][1]["error"] == "Command exited with non-zero status code 1"
    assert kinds[1][1]["command"] == "npm test"
    assert "resolve_command" not in record


def test_claude_interrupted_command_is_no_error(claude: dict[str, Any]) -> None:
    payload = {**claude["PostToolUseFailure_Bash"], "is_interrupt": True, "error": "Interrupted by user"}
    kinds = [k for k, _ in events_of(to_record("claude-code", payload, Limits()))]
    assert kinds == ["command_run"]


def test_claude_todos_are_a_snapshot_with_task_ids(claude: dict[str, Any]) -> None:
    record = to_record("claude-code", claude["PostToolUse_TodoWrite"], Limits())
    assert record is not None and record["events"] == []
    assert record["todos"] == {"old": [], "new": [{"task_id": "1", "title": "write a readme", "status": "pending"}]}


def test_todos_without_ids_get_stable_ones(claude: dict[str, Any]) -> None:
    payload = {**claude["PostToolUse_TodoWrite"], "tool_response": {}}
    payload["tool_input"] = {"todos": [{"content": "Add VAT test", "status": "pending", "activeForm": "Adding"}]}
    first = to_record("claude-code", payload, Limits())["todos"]["new"][0]["task_id"]
    second = to_record("claude-code", payload, Limits())["todos"]["new"][0]["task_id"]
    assert first == second and first.startswith("todo-")


@pytest.mark.parametrize("name", ["PostToolUse_Read"])
def test_claude_reads_are_not_recorded(claude: dict[str, Any], name: str) -> None:
    assert to_record("claude-code", claude[name], Limits()) is None


def test_claude_lifecycle_actions(claude: dict[str, Any]) -> None:
    assert to_record("claude-code", claude["PreCompact"], Limits())["action"] == "checkpoint"
    assert to_record("claude-code", claude["Stop"], Limits())["action"] == "turn"
    end = to_record("claude-code", claude["SessionEnd"], Limits())
    assert end["action"] == "end" and end["reason"] == "other"
    assert to_record("claude-code", {**claude["Stop"], "hook_event_name": "Notification"}, Limits()) is None


def test_gemini_events(gemini: dict[str, Any]) -> None:
    start = to_record("gemini-cli", gemini["SessionStart"], Limits())
    assert (start["action"], start["agent"], start["project"], start["want_context"]) == (
        "start",
        "gemini",
        "billing-api",
        True,
    )
    assert events_of(to_record("gemini-cli", gemini["BeforeAgent"], Limits())) == [
        ("user_prompt", {"prompt": "Add a retry to the upload client"})
    ]
    assert events_of(to_record("gemini-cli", gemini["AfterTool_write_file"], Limits())) == [
        ("file_edited", {"path": "/repo/upload.py", "tool": "write_file"})
    ]
    failed = events_of(to_record("gemini-cli", gemini["AfterTool_shell_failed"], Limits()))
    assert failed[0] == ("command_run", {"command": "pytest -q", "exit_status": 1, "tool": "run_shell_command"})
    assert failed[1][0] == "error_encountered" and "1 failed" in failed[1][1]["error"]
    passed = to_record("gemini-cli", gemini["AfterTool_shell_ok"], Limits())
    assert events_of(passed)[0][1]["exit_status"] == 0 and passed["resolve_command"] == "pytest -q"
    assert to_record("gemini-cli", gemini["AfterTool_read_file"], Limits()) is None
    assert to_record("gemini-cli", gemini["PreCompress"], Limits())["action"] == "checkpoint"
    assert to_record("gemini-cli", gemini["AfterAgent"], Limits())["action"] == "turn"
    assert to_record("gemini-cli", gemini["SessionEnd"], Limits())["reason"] == "exit"


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        {"hook_event_name": "SessionStart"},
        {"session_id": "x"},
        {"session_id": "", "hook_event_name": "Stop"},
    ],
)
def test_broken_payloads_are_refused(payload: Any) -> None:
    with pytest.raises(PayloadError):
        to_record("claude-code", payload, Limits())
