"""How `archon-mcp serve` processes end, and what they leave behind: the embedded PostgreSQL they
share must stop when the last of them is gone, however they went (end of input, SIGTERM, SIGINT,
SIGKILL), and `pgdata/.handle_pids.json` must not keep the PIDs of dead processes.

Real subprocesses on private data dirs (this test process never attaches to them: its own PID in
the handle file would keep their server running). Where the model does not matter the servers use
the OpenAI provider aimed at a closed port, so no model loads; nothing here needs embeddings.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import (
    START_TIMEOUT,
    archon_command,
    call,
    free_port,
    postmaster_lines,
    server_env,
    stop_postgres,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EXIT_TIMEOUT = 30.0  # far above normal: only turns a hang into a failure
# After the last process exits, PostgreSQL finishes its shutdown checkpoint on its own.
SHUTDOWN_TIMEOUT = 30.0


def _new_data_dir() -> Path:
    # Under /tmp, not pytest's tmp_path: short socket path, reachable by the `pgserver` user when
    # the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="arlc-", dir="/tmp"))
    path.chmod(0o755)
    return path


def _clean_up(data_dir: Path) -> None:
    """Whatever a failed test left: its servers, PostgreSQL, the handle file."""
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.environ().get("ARCHON_DATA_DIR") == str(data_dir):
                proc.kill()
                proc.wait(10)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.TimeoutExpired):
            continue
    stop_postgres(data_dir)
    (data_dir / "pgdata" / ".handle_pids.json").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    path = _new_data_dir()
    yield path
    _clean_up(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lifecycle_dir(shared_dir: Path) -> Iterator[Path]:
    """A data dir of this module's own, initialised and migrated by the first test that uses it.
    Every test ends with nothing running on it (that is what they check), so the next one starts
    from the state a user's machine is in between sessions."""
    _clean_up(shared_dir)
    yield shared_dir
    _clean_up(shared_dir)


@pytest.fixture
def fresh_dir() -> Iterator[Path]:
    """A data dir with no PostgreSQL in it yet: starting servers race to initdb it."""
    path = _new_data_dir()
    yield path
    _clean_up(path)
    shutil.rmtree(path, ignore_errors=True)


def cheap_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """No model: embeddings would go to a closed port (nothing here is ever embedded)."""
    env = server_env(data_dir, "archon_lifecycle")
    env.update(
        ARCHON_EMBEDDING_PROVIDER="openai",
        ARCHON_OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        ARCHON_LOG_LEVEL="INFO",
        **extra,
    )
    return env


def local_model_env(data_dir: Path) -> dict[str, str]:
    """The default local model: the server starts loading it (~5 s) as soon as it is ready."""
    return {**server_env(data_dir, "archon_lifecycle_local"), "ARCHON_LOG_LEVEL": "INFO"}


class Server:
    """One `archon-mcp serve` subprocess; stderr goes to a file, for failure messages."""

    def __init__(self, data_dir: Path, env: dict[str, str], transport: str = "stdio") -> None:
        fd, log_name = tempfile.mkstemp(prefix="serve-", suffix=".log", dir=data_dir)
        self.log = Path(log_name)
        args = [*archon_command(), "serve"]
        self.port: int | None = None
        if transport != "stdio":
            self.port = free_port()
            args += ["--transport", transport, "--port", str(self.port)]
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=fd, bufsize=0)
        os.close(fd)
        self.pid = self.proc.pid
        self.data_dir = data_dir
        self._buffer = b""

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())

    def receive(self, request_id: int, timeout: float) -> dict[str, Any]:
        """The response to `request_id` (bounded wait; other messages are skipped)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("id") == request_id:
                    return message
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no answer to request {request_id} within {timeout} s:\n{self.stderr()}"
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                assert chunk, f"the server closed stdout before answering {request_id}:\n{self.stderr()}"
                self._buffer += chunk

    def handshake_and_call(self) -> None:
        """initialize, then one tool call: it returns once the database is open and migrated."""
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test_lifecycle", "version": "1"},
                },
            }
        )
        assert "result" in self.receive(1, START_TIMEOUT)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "archon_list_sessions", "arguments": {}},
            }
        )
        answer = self.receive(2, START_TIMEOUT)
        assert not answer["result"].get("isError"), answer

    def wait_attached(self) -> None:
        """Until this process is in the embedded server's handle file (it has started or joined it)."""
        deadline = time.monotonic() + START_TIMEOUT
        while self.pid not in handle_pids(self.data_dir):
            assert self.proc.poll() is None, f"server {self.pid} exited early:\n{self.stderr()}"
            assert time.monotonic() < deadline, f"server {self.pid} did not attach in {START_TIMEOUT} s"
            time.sleep(0.05)

    def wait_port(self) -> None:
        import socket

        assert self.port is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, f"server exited early:\n{self.stderr()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"server did not open its port in {START_TIMEOUT} s"
                time.sleep(0.1)

    def stop(self, how: str) -> None:
        """End it: "eof" closes stdin, "sigterm"/"sigint"/"sigkill" send that signal. Does not wait."""
        if how == "eof":
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        else:
            self.proc.send_signal({"sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "sigkill": signal.SIGKILL}[how])

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"server {self.pid} did not exit within {timeout} s:\n{self.stderr()}") from None


def handle_pids(data_dir: Path) -> list[int]:
    path = data_dir / "pgdata" / ".handle_pids.json"
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return []
    return json.loads(text) if text else []


def postgres_processes(data_dir: Path) -> list[int]:
    pgdata = str(data_dir / "pgdata")
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and pgdata in cmdline:
            found.append(proc.pid)
    return found


def assert_nothing_left(data_dir: Path, context: str) -> None:
    """No PostgreSQL runs on the data dir (allowing for its shutdown checkpoint), and the handle
    file names no process."""
    lines = postmaster_lines(data_dir)
    postmaster = int(lines[0]) if lines else None
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    while (postmaster is not None and psutil.pid_exists(postmaster)) or postgres_processes(data_dir):
        assert time.monotonic() < deadline, (
            f"{context}: PostgreSQL still runs on {data_dir} {SHUTDOWN_TIMEOUT} s after its last client "
            f"exited (postmaster {postmaster}, processes {postgres_processes(data_dir)})"
        )
        time.sleep(0.1)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), f"{context}: postmaster.pid left behind"
    stale = handle_pids(data_dir)
    assert stale == [], (
        f"{context}: the handle file still names {stale} (alive: {[psutil.pid_exists(p) for p in stale]})"
    )


# --- end of input ------------------------------------------------------------------------------


def test_stdio_server_exits_promptly_at_end_of_input(lifecycle_dir: Path) -> None:
    """The MCP SDK's client closes stdin and SIGTERMs the server 2 s later. The server used to take
    ~4.6 s when stdin closed while its model was loading (its embedding worker waited for the load)."""
    server = Server(lifecycle_dir, local_model_env(lifecycle_dir))
    server.handshake_and_call()  # the app is open: the model load starts now and takes ~5 s
    started = time.monotonic()
    server.stop("eof")
    status = server.wait()
    elapsed = time.monotonic() - started
    assert status == 0, f"exit status {status}:\n{server.stderr()}"
    assert elapsed < 2.0, f"the server took {elapsed:.2f} s to exit after end of input:\n{server.stderr()}"
    assert_nothing_left(lifecycle_dir, "after end of input")


async def test_sdk_client_shutdown_leaves_no_server_behind(lifecycle_dir: Path) -> None:
    """A normal client session, ended the SDK's way (close stdin, SIGTERM after 2 s, SIGKILL after
    4 s): the server is gone before the grace period, and so is PostgreSQL."""
    command = archon_command()
    params = StdioServerParameters(command=command[0], args=[*command[1:], "serve"], env=local_model_env(lifecycle_dir))
    async with Client(params) as client:
        session = await call(client, "archon_create_session", agent="claude")
        await call(client, "archon_add_event", session_id=session["id"], event_type="note", event_data={"n": 1})
        closing = time.monotonic()
    elapsed = time.monotonic() - closing
    assert elapsed < 2.0, f"closing the client took {elapsed:.2f} s: the SDK had to SIGTERM the server"
    assert_nothing_left(lifecycle_dir, "after the SDK client closed")


# --- signals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "how"), [("stdio", "sigterm"), ("stdio", "sigint"), ("http", "sigterm"), ("sse", "sigterm")]
)
def test_signal_detaches_the_only_client(lifecycle_dir: Path, transport: str, how: str) -> None:
    """SIGTERM/SIGINT used to kill the process outright (uvicorn re-raises the signal it caught
    once it has shut down): PostgreSQL kept running and the dead PID stayed in the handle file."""
    server = Server(lifecycle_dir, cheap_env(lifecycle_dir), transport)
    if transport == "stdio":
        server.handshake_and_call()
    else:
        server.wait_port()
    assert handle_pids(lifecycle_dir) == [server.pid]
    server.stop(how)
    status = server.wait()
    signum = signal.SIGTERM if how == "sigterm" else signal.SIGINT
    assert status == -signum, f"exit status {status} (expected death by {signum.name}):\n{server.stderr()}"
    assert_nothing_left(lifecycle_dir, f"after {how.upper()} of a {transport} server")


# --- many clients ------------------------------------------------------------------------------

CLIENTS = 4


def test_clients_in_random_order_leave_no_server_and_no_stale_pid(fresh_dir: Path) -> None:
    """4 stdio servers start at once on a new data dir, then stop in a random order and at random
    moments, by end of input, SIGTERM, SIGINT and one SIGKILL. Right after the SIGKILL a fifth
    server starts; once it is attached the killed PID is gone from the handle file (pruned by that
    start, or by an exit in between). When the last one has exited, PostgreSQL is gone and the
    handle file is empty."""
    seed = int(os.environ.get("ARCHON_LIFECYCLE_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    context = f"seed {seed} (rerun with ARCHON_LIFECYCLE_SEED={seed})"
    env = cheap_env(fresh_dir)
    servers = [Server(fresh_dir, env) for _ in range(CLIENTS)]
    for server in servers:
        server.wait_attached()
    assert sorted(handle_pids(fresh_dir)) == sorted(s.pid for s in servers), context

    ways = ["sigkill", "eof", "sigterm", rng.choice(["eof", "sigint"])]
    rng.shuffle(ways)
    order = rng.sample(servers, len(servers))
    late: Server | None = None
    stopping: list[tuple[Server, str]] = []
    for server, how in zip(order, ways, strict=True):
        time.sleep(rng.uniform(0, 0.3))  # exits overlap: some stop while others are detaching
        server.stop(how)
        stopping.append((server, how))
        if how == "sigkill":
            server.wait()  # reaped: gone without detaching, its PID stays in the file
            late = Server(fresh_dir, env)
            late.wait_attached()
            killed = server.pid
            assert killed not in handle_pids(fresh_dir), f"{context}: the new server kept dead PID {killed}"
    assert late is not None
    late.stop(rng.choice(["eof", "sigterm"]))
    for server, how in stopping:
        status = server.wait()
        if how == "eof":
            assert status == 0, f"{context}: exit status {status} after end of input:\n{server.stderr()}"
    late.wait()
    assert_nothing_left(fresh_dir, context)


def test_killed_client_does_not_keep_the_server_alive(lifecycle_dir: Path) -> None:
    """The dead PID of a SIGKILLed server is dropped by the next clean exit too: the last process
    out stops PostgreSQL even when a killed one is still listed (the package alone never did)."""
    env = cheap_env(lifecycle_dir)
    first, second = Server(lifecycle_dir, env), Server(lifecycle_dir, env)
    first.wait_attached()
    second.wait_attached()
    first.stop("sigkill")
    first.wait()
    assert first.pid in handle_pids(lifecycle_dir)  # nobody has pruned it yet
    second.stop("eof")
    assert second.wait() == 0, second.stderr()
    assert_nothing_left(lifecycle_dir, "after a SIGKILL and a clean exit")


def test_a_new_client_drops_the_pid_of_a_killed_one(lifecycle_dir: Path) -> None:
    """A SIGKILLed server cannot detach: its PID stays in the handle file until the next server
    starts and drops it; that server, the only one left, then stops PostgreSQL on its way out."""
    env = cheap_env(lifecycle_dir)
    killed = Server(lifecycle_dir, env)
    killed.wait_attached()
    killed.stop("sigkill")
    killed.wait()
    assert handle_pids(lifecycle_dir) == [killed.pid]
    late = Server(lifecycle_dir, env)
    late.wait_attached()
    assert handle_pids(lifecycle_dir) == [late.pid], "the new server kept the dead PID"
    late.stop("eof")
    assert late.wait() == 0, late.stderr()
    assert_nothing_left(lifecycle_dir, "after a SIGKILL and a later client")


def test_a_start_during_the_shutdown_waits_for_it_then_starts_the_server_again(lifecycle_dir: Path) -> None:
    """The last process out does not wait for PostgreSQL's shutdown checkpoint. A server starting
    meanwhile must neither attach to the dying server nor fail: it waits, then starts a new one.
    The shutdown is held open by freezing the checkpointer (SIGSTOP) until the new server waits."""
    env = cheap_env(lifecycle_dir)
    first = Server(lifecycle_dir, env)
    first.handshake_and_call()
    old_postmaster = int(postmaster_lines(lifecycle_dir)[0])
    checkpointer = next(p for p in psutil.Process(old_postmaster).children() if "checkpointer" in " ".join(p.cmdline()))
    checkpointer.suspend()
    try:
        first.stop("eof")
        assert first.wait() == 0, first.stderr()
        assert postmaster_lines(lifecycle_dir)[7].strip() == "stopping"
        second = Server(lifecycle_dir, env)
        deadline = time.monotonic() + START_TIMEOUT
        while "is shutting down; waiting" not in second.stderr():
            assert second.proc.poll() is None, f"the new server gave up:\n{second.stderr()}"
            assert time.monotonic() < deadline, f"the new server did not wait for the shutdown:\n{second.stderr()}"
            time.sleep(0.1)
        assert second.pid not in handle_pids(lifecycle_dir)
    finally:
        checkpointer.resume()
    second.handshake_and_call()  # works: on a new server
    assert int(postmaster_lines(lifecycle_dir)[0]) != old_postmaster
    second.stop("eof")
    assert second.wait() == 0, second.stderr()
    assert_nothing_left(lifecycle_dir, "after a start during a shutdown")
