"""The stdio relay's pure parts (archon_mcp.relay): which shared server a client may use, its
settings as `Settings` reads them, and the bookkeeping that makes a server restart survivable."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from archon_mcp import relay as relay_module
from archon_mcp.relay import REPLAY_ID, HubPaths, Relay, data_dir_of, enabled, read_dotenv, server_key


def test_dotenv_is_read_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\n"
        "ARCHON_SHARED_SERVER=false\n"
        "export ARCHON_DATA_DIR='/srv/archon data'\n"
        'archon_log_level="DEBUG"\n'
        "ARCHON_AGENTS=claude,gpt # the agents\n"
        "not a setting\n"
    )
    assert read_dotenv(dotenv) == {
        "ARCHON_SHARED_SERVER": "false",
        "ARCHON_DATA_DIR": "/srv/archon data",
        "ARCHON_LOG_LEVEL": "DEBUG",
        "ARCHON_AGENTS": "claude,gpt",
    }
    assert read_dotenv(tmp_path / "missing.env") == {}


@pytest.mark.parametrize(
    ("env", "dotenv", "expected"),
    [
        ({}, {}, True),
        ({"ARCHON_SHARED_SERVER": "false"}, {}, False),
        ({"archon_shared_server": "0"}, {}, False),  # any case, as pydantic-settings matches it
        ({}, {"ARCHON_SHARED_SERVER": "no"}, False),
        ({"ARCHON_SHARED_SERVER": "true"}, {"ARCHON_SHARED_SERVER": "false"}, True),  # environment first
        ({"ARCHON_SHARED_SERVER": "Off"}, {}, False),
    ],
)
def test_sharing_follows_the_setting(env: dict[str, str], dotenv: dict[str, str], expected: bool) -> None:
    assert enabled(env, dotenv) is expected


def test_a_relative_data_dir_is_resolved_against_the_working_directory(tmp_path: Path) -> None:
    assert data_dir_of({"ARCHON_DATA_DIR": "store"}, {}, tmp_path) == (tmp_path / "store").resolve()
    assert data_dir_of({}, {"ARCHON_DATA_DIR": "/srv/a"}, tmp_path) == Path("/srv/a")


def test_the_key_changes_with_the_settings_and_nothing_else(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    base = {"PATH": "/usr/bin", "ARCHON_DATABASE_NAME": "a"}
    key = server_key(base, dotenv, tmp_path)
    assert key == server_key(dict(base), dotenv, tmp_path)
    assert key == server_key({**base, "PATH": "/bin", "TERM": "xterm"}, dotenv, tmp_path)
    assert key != server_key({**base, "ARCHON_DATABASE_NAME": "b"}, dotenv, tmp_path)
    assert key != server_key({**base, "OPENAI_API_KEY": "sk-x"}, dotenv, tmp_path)
    assert key != server_key(base, dotenv, tmp_path / "other")
    dotenv.write_text("ARCHON_EMBEDDING_PROVIDER=openai\n")
    assert key != server_key(base, dotenv, tmp_path)


def test_a_long_data_dir_puts_the_socket_in_the_temporary_folder(tmp_path: Path) -> None:
    short = HubPaths(Path("/srv/a"), "0123456789abcdef")
    assert short.socket == Path("/srv/a/serve/0123456789abcdef.sock")
    deep = HubPaths(tmp_path / ("x" * 120), "0123456789abcdef")
    assert len(str(deep.socket)) < 100 and deep.socket.name.endswith("0123456789abcdef.sock")
    assert deep.lock.parent == tmp_path / ("x" * 120) / "serve"


def test_the_relay_imports_the_standard_library_only() -> None:
    code = (
        "import sys, archon_mcp.relay\n"
        "heavy = {'pydantic', 'sqlalchemy', 'mcp', 'typer', 'anyio', 'onnxruntime', 'openvino', 'torch', 'asyncpg'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def _line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


class _Pipe(io.RawIOBase):
    """A stdin the test writes lines into while the relay reads them."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._file = self._read.makefile("rb")

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        return self._file.readline()

    def send(self, data: bytes) -> None:
        self._write.sendall(data)

    def close_input(self) -> None:
        self._write.close()


class _Stdout(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []
        self.changed = threading.Condition()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        with self.changed:
            self.lines.extend(json.loads(line) for line in data.splitlines())
            self.changed.notify_all()
        return len(data)

    def wait_for(self, count: int) -> list[dict]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.lines) >= count, timeout=10), self.lines
            return list(self.lines)


def _relay_between_two_servers(tmp_path: Path, monkeypatch) -> tuple:
    """A running relay connected to a first server; the restart it makes gets the second one."""
    first_relay_end, first_server = socket.socketpair()
    second_relay_end, second_server = socket.socketpair()
    monkeypatch.setattr(relay_module, "connect_or_start", lambda paths, env: second_relay_end)
    stdin, stdout = _Pipe(), _Stdout()
    relay = Relay(HubPaths(tmp_path, "k"), {}, first_relay_end, stdin, stdout)  # type: ignore[arg-type]
    runner = threading.Thread(target=relay.run, daemon=True)
    runner.start()
    return stdin, stdout, runner, (first_server, first_server.makefile("rb")), second_server


def test_a_server_that_dies_is_replaced_and_the_lost_request_answered(tmp_path: Path, monkeypatch) -> None:
    stdin, stdout, runner, (first_server, server), second_server = _relay_between_two_servers(tmp_path, monkeypatch)

    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "x"}}
    stdin.send(_line(initialize))
    assert json.loads(server.readline()) == initialize
    first_server.sendall(_line({"jsonrpc": "2.0", "id": 1, "result": {"serverInfo": {}}}))
    stdin.send(_line({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    stdin.send(_line({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "slow"}}))
    assert json.loads(server.readline())["method"] == "notifications/initialized"
    assert json.loads(server.readline())["id"] == 2
    server.close()
    first_server.close()  # the server dies with request 2 in flight

    # The new server gets the client's handshake again, under the relay's own id.
    replacement = second_server.makefile("rb")
    replayed = json.loads(replacement.readline())
    assert replayed == {**initialize, "id": REPLAY_ID}
    second_server.sendall(_line({"jsonrpc": "2.0", "id": REPLAY_ID, "result": {"serverInfo": {}}}))
    assert json.loads(replacement.readline())["method"] == "notifications/initialized"

    stdin.send(_line({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
    assert json.loads(replacement.readline())["id"] == 3
    second_server.sendall(_line({"jsonrpc": "2.0", "id": 3, "result": {}}))
    lines = stdout.wait_for(3)
    assert [line.get("id") for line in lines] == [1, 2, 3]  # the repeated handshake's answer is not passed on
    assert lines[1]["error"]["code"] == -32603 and "Send the request again" in lines[1]["error"]["message"]
    assert lines[2] == {"jsonrpc": "2.0", "id": 3, "result": {}}

    stdin.close_input()
    assert replacement.readline() == b""  # end of input reaches the server
    replacement.close()
    second_server.close()
    runner.join(10)
    assert not runner.is_alive()


def test_a_handshake_the_server_dropped_goes_to_the_next_server_as_sent(tmp_path: Path, monkeypatch) -> None:
    """A client that connects as the shared server stops (idle): its initialize is answered by the
    new server, not with an error."""
    stdin, stdout, runner, (first_server, server), second_server = _relay_between_two_servers(tmp_path, monkeypatch)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "x"}}
    stdin.send(_line(initialize))
    assert json.loads(server.readline()) == initialize
    server.close()
    first_server.close()  # gone without answering

    replacement = second_server.makefile("rb")
    assert json.loads(replacement.readline()) == initialize  # the client's own id, not REPLAY_ID
    second_server.sendall(_line({"jsonrpc": "2.0", "id": 1, "result": {"serverInfo": {"name": "new"}}}))
    assert stdout.wait_for(1) == [{"jsonrpc": "2.0", "id": 1, "result": {"serverInfo": {"name": "new"}}}]
    stdin.close_input()
    assert replacement.readline() == b""
    replacement.close()
    second_server.close()
    runner.join(10)
    assert not runner.is_alive()
