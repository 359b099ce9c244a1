"""`archon-mcp serve` over stdio as a thin relay to the shared server of its data dir (archon_mcp.hub).

Every desktop app and IDE window starts an `archon-mcp serve` of its own. Loading the whole server in
each one (the MCP SDK, pydantic, SQLAlchemy, a database pool, an embedding worker: ~1.6 s and ~150 MB
before the first answer) is what made a new client slow and a machine's clients heavy. This process
imports the standard library only (~30 ms), connects to the unix socket of the shared server for its
settings, starting that server when none answers (under a lock, so racing clients start one), and
copies lines both ways. The shared server runs one MCP session per connection, so all of the protocol
(sampling, notifications, cancellation, every bad line answered) works as in one process.

One shared server per data dir and settings: the key hashes this package (version, path, the sizes
and times of its source files), the Python, the data dir, every ARCHON_* and OPENAI_* variable and
./.env (what `Settings` reads). A client with other settings, or after an upgrade, gets its own.

When the shared server goes away mid-session (killed, crashed), the relay starts a new one, repeats the
client's `initialize` to it (that answer is dropped: the client has one), and answers the requests
that were in flight with an error that says to send them again. When no shared server can be used
before the session starts (no unix sockets, an unusable data dir, a server that fails to start),
`serve` runs the whole server in this process instead, as with ARCHON_SHARED_SERVER=false.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from archon_mcp._daemons import exists_and_ours, hold, spawn_detached

# How long a shared server may take to open its socket (a Python start-up on a busy machine; it
# binds before it opens the database).
START_SECONDS = 30.0
POLL_SECONDS = 0.02
# After our end of input: how long the server's last answers may take to come back.
DRAIN_SECONDS = 5.0
# After a failed restart, requests are answered with an error at once for this long.
RETRY_SECONDS = 5.0
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
REPLAY_ID = "archon-relay-initialize"
_FALSE = {"0", "off", "f", "false", "n", "no"}
_SETTING_PREFIXES = ("ARCHON_", "OPENAI_")


class Unusable(Exception):
    """No shared server can be reached or started."""


# --- settings, read as `Settings` would (environment first, then ./.env) ---------------------------
def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (`export`, quotes and comments as python-dotenv reads them)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.upper()] = value
    return values


def setting(name: str, env: Mapping[str, str], dotenv: Mapping[str, str]) -> str | None:
    """ARCHON_<name> from the environment (any case, as pydantic-settings matches it), else .env."""
    wanted = f"ARCHON_{name}".upper()
    for key, value in env.items():
        if key.upper() == wanted:
            return value
    return dotenv.get(wanted)


def enabled(env: Mapping[str, str], dotenv: Mapping[str, str]) -> bool:
    value = setting("SHARED_SERVER", env, dotenv)
    return value is None or value.strip().lower() not in _FALSE


def data_dir_of(env: Mapping[str, str], dotenv: Mapping[str, str], cwd: Path) -> Path:
    configured = (setting("DATA_DIR", env, dotenv) or "").strip()
    if configured:
        return (cwd / Path(configured).expanduser()).resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("archon-mcp", appauthor=False)).resolve()


def server_key(env: Mapping[str, str], dotenv_path: Path, data_dir: Path) -> str:
    """Which shared server a client may use: the same code, interpreter, data dir and settings."""
    from archon_mcp import __version__

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for part in (__version__, str(package), sys.executable, str(data_dir)):
        digest.update(part.encode() + b"\0")
    sources = sorted(package.rglob("*.py"))
    migrations = package.parent / "alembic" / "versions"
    if migrations.is_dir():
        sources += sorted(migrations.glob("*.py"))
    for source in sources:
        with contextlib.suppress(OSError):
            stat = source.stat()
            digest.update(f"{source}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    for key in sorted(env):
        if key.upper().startswith(_SETTING_PREFIXES):
            digest.update(f"{key.upper()}={env[key]}\0".encode())
    with contextlib.suppress(OSError):
        digest.update(b"dotenv\0" + dotenv_path.read_bytes())
    return digest.hexdigest()[:16]


class HubPaths:
    """Where one shared server's files live: `<data dir>/serve/<key>.*`."""

    def __init__(self, data_dir: Path, key: str) -> None:
        self.data_dir = data_dir
        self.key = key
        self.root = data_dir / "serve"
        self.lock = self.root / f"{key}.lock"  # held by the running server for its whole life
        self.spawn = self.root / f"{key}.spawn"  # held by a relay while it starts one
        self.log = self.root / "server.log"
        socket_path = self.root / f"{key}.sock"
        if len(str(socket_path).encode()) > MAX_SOCKET_PATH:
            uid = os.getuid() if hasattr(os, "getuid") else 0
            socket_path = Path(tempfile.gettempdir()) / f"archon-serve-{uid}-{key}.sock"
        self.socket = socket_path


# --- reaching the server ----------------------------------------------------------------------------
def connect(path: Path) -> socket.socket | None:
    """A connection to the server at `path`; None when nobody listens there."""
    try:
        if not exists_and_ours(path):
            return None
    except OSError as exc:
        raise Unusable(str(exc)) from exc
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    except OSError as exc:
        conn.close()
        raise Unusable(str(exc)) from exc
    return conn


@contextlib.contextmanager
def _spawn_lock(path: Path, seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    while (fd := hold(path)) is None:
        if time.monotonic() > deadline:
            raise Unusable(f"another process held {path} for {seconds:.0f} s")
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        os.close(fd)


def _spawn(paths: HubPaths, env: Mapping[str, str]) -> Any:
    child_env = {**env, "ARCHON_DATA_DIR": str(paths.data_dir)}
    args = ["--socket", str(paths.socket), "--lock", str(paths.lock)]
    return spawn_detached("archon_mcp.hub", args, child_env, paths.log)


def connect_or_start(paths: HubPaths, env: Mapping[str, str], seconds: float = START_SECONDS) -> socket.socket:
    """A connection to the shared server, started first when none listens."""
    conn = connect(paths.socket)
    if conn is not None:
        return conn
    try:
        paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise Unusable(f"cannot create {paths.root}: {exc}") from exc
    deadline = time.monotonic() + seconds
    with _spawn_lock(paths.spawn, seconds):
        process = None
        while time.monotonic() < deadline:
            conn = connect(paths.socket)  # a racing relay may have started it meanwhile
            if conn is not None:
                return conn
            if process is None:
                process = _spawn(paths, env)
            elif process.poll() is not None:
                if process.returncode != 0:
                    raise Unusable(f"the shared server exited with status {process.returncode}; see {paths.log}")
                # 0: it found the lock held by a server that is stopping; start another once it is gone
                time.sleep(0.2)
                process = None
                continue
            time.sleep(POLL_SECONDS)
    raise Unusable(f"the shared server did not open {paths.socket} within {seconds:.0f} s")


# --- copying lines --------------------------------------------------------------------------------
def _message(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _id_key(value: Any) -> str:
    return json.dumps(value)


class Relay:
    """Copies the client's lines to the shared server and its answers back, over one connection
    at a time (a new one when the server had to be started again)."""

    def __init__(
        self, paths: HubPaths, env: Mapping[str, str], conn: socket.socket, stdin: BinaryIO, stdout: BinaryIO
    ) -> None:
        self.paths, self.env = paths, env
        self.stdin, self.stdout = stdin, stdout
        self._link = threading.Lock()
        self._out = threading.Lock()
        self._conn, self._file = conn, conn.makefile("rb")
        self._generation = 0
        self._broken_until = 0.0
        self._pending: dict[str, Any] = {}  # requests sent and not answered yet: key -> id
        self._initialize: bytes | None = None  # the client's initialize, with REPLAY_ID
        self._initialize_line: bytes | None = None  # and as the client sent it
        self._initialize_id: Any = None
        self._initialized: bytes | None = None
        self.closing = False

    # client -> server
    def run(self) -> int:
        down = threading.Thread(target=self._down, name="archon-relay-down", daemon=True)
        down.start()
        try:
            for line in iter(self.stdin.readline, b""):
                if not line.endswith(b"\n"):
                    line += b"\n"
                self._note_up(line)
                self._send(line)
        except (OSError, ValueError):
            pass  # stdin closed under us: as end of input
        self.closing = True
        conn, _, _ = self._current()
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)  # the server ends the session once it has answered
        down.join(DRAIN_SECONDS)
        return 0

    def _note_up(self, line: bytes) -> None:
        message = _message(line)
        if message is None:
            return
        method = message.get("method")
        if method is None:
            return  # an answer to the server (sampling, roots, elicitation)
        if "id" in message and message["id"] is not None:
            self._pending[_id_key(message["id"])] = message["id"]
            if method == "initialize":
                replay = {**message, "id": REPLAY_ID}
                self._initialize = json.dumps(replay, separators=(",", ":")).encode() + b"\n"
                self._initialize_line, self._initialize_id = line, message["id"]
        elif method == "notifications/initialized":
            self._initialized = line
        elif method == "notifications/cancelled" and isinstance(message.get("params"), dict):
            self._pending.pop(_id_key(message["params"].get("requestId")), None)

    def _send(self, line: bytes) -> None:
        for _ in range(2):
            conn, _, generation = self._current()
            try:
                conn.sendall(line)
                return
            except OSError:
                if not self._reconnect(generation):
                    break
        # No server to take it: a request gets its answer here, anything else is dropped with it.
        message = _message(line)
        if message and message.get("method") and message.get("id") is not None:
            self._pending.pop(_id_key(message["id"]), None)
            self._write(self._error(message["id"], "is not running and could not be started"))

    # server -> client
    def _down(self) -> None:
        while True:
            _, reader, generation = self._current()
            try:
                line = reader.readline()
            except (OSError, ValueError):
                line = b""
            if line:
                if self._note_down(line):
                    self._write(line)
                continue
            if self.closing:
                return
            if not self._reconnect(generation):
                time.sleep(RETRY_SECONDS / 5)

    def _note_down(self, line: bytes) -> bool:
        """Whether the line goes to the client (not the answer to a repeated initialize)."""
        message = _message(line)
        if message is None or "method" in message or "id" not in message:
            return True
        if message["id"] == REPLAY_ID:
            return False
        self._pending.pop(_id_key(message["id"]), None)
        return True

    def _write(self, data: bytes) -> None:
        try:
            with self._out:
                self.stdout.write(data)
                self.stdout.flush()
        except (OSError, ValueError):  # the client is gone: so is this relay's reason to live
            os._exit(0)

    # a new server
    def _current(self) -> tuple[socket.socket, BinaryIO, int]:
        with self._link:
            return self._conn, self._file, self._generation

    def _error(self, request_id: Any, what: str) -> bytes:
        message = (
            f"The shared archon-mcp server {what} (see {self.paths.log}). Send the request again; "
            "if it was a write, check first whether it was stored."
        )
        reply = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": message}}
        return json.dumps(reply, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"

    def _reconnect(self, generation: int) -> bool:
        """A working connection after connection `generation` broke (made here or by the other thread)."""
        with self._link:
            if self._generation != generation:
                return True
            if self.closing or time.monotonic() < self._broken_until:
                return False
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)  # wakes a reader still blocked on it
            with contextlib.suppress(OSError):
                self._conn.close()
            lost, self._pending = self._pending, {}
            # A handshake still unanswered (the server was stopping as the client came) goes to the
            # new server as it was sent: its answer is the client's. Any other request is lost.
            handshake = lost.pop(_id_key(self._initialize_id), None) if self._initialize_line else None
            for request_id in lost.values():
                self._write(self._error(request_id, "stopped before answering; it has been started again"))
            try:
                conn = connect_or_start(self.paths, self.env)
                reader = conn.makefile("rb")
                if handshake is not None:
                    self._pending[_id_key(handshake)] = handshake
                    conn.sendall(self._initialize_line)  # type: ignore[arg-type]
                else:
                    self._replay(conn, reader)
            except (Unusable, OSError) as exc:
                print(f"archon-mcp: the shared server is gone and could not be started again: {exc}", file=sys.stderr)
                self._broken_until = time.monotonic() + RETRY_SECONDS
                return False
            self._conn, self._file = conn, reader
            self._generation += 1
            return True

    def _replay(self, conn: socket.socket, reader: BinaryIO) -> None:
        """The client's handshake again, on a new server (its answer is not the client's)."""
        if self._initialize is None:
            return
        conn.settimeout(START_SECONDS)
        conn.sendall(self._initialize)
        while True:
            line = reader.readline()
            if not line:
                raise OSError("the new shared server closed the connection during the handshake")
            message = _message(line)
            if message is not None and message.get("id") == REPLAY_ID:
                break
        if self._initialized is not None:
            conn.sendall(self._initialized)
        conn.settimeout(None)


def relay(environ: Mapping[str, str] | None = None) -> int | None:
    """Serve this process's stdin/stdout through the shared server. None: run the server in this
    process instead (sharing is off, or no shared server can be used)."""
    env = dict(os.environ if environ is None else environ)
    if not hasattr(socket, "AF_UNIX") or os.name != "posix":
        return None
    cwd = Path.cwd()
    dotenv = read_dotenv(cwd / ".env")
    if not enabled(env, dotenv):
        return None
    try:
        data_dir = data_dir_of(env, dotenv, cwd)
        paths = HubPaths(data_dir, server_key(env, cwd / ".env", data_dir))
        conn = connect_or_start(paths, env)
    except (Unusable, OSError) as exc:
        print(f"archon-mcp: cannot use a shared server ({exc}); serving in this process", file=sys.stderr)
        return None
    try:
        return Relay(paths, env, conn, sys.stdin.buffer, sys.stdout.buffer).run()
    except KeyboardInterrupt:
        return 130
