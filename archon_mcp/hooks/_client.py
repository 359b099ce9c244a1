"""The hook process: `archon-mcp hook claude-code` (or `gemini-cli`), run by the client for every hook event.

It must never hurt the client, so it does as little as it can, with the standard library only
(~30 ms of Python start-up instead of ~700 ms for SQLAlchemy, pydantic and the services):
read the payload, turn it into a redacted record (`_payload`), and hand it to the hook helper, a
long-lived `archon-mcp hook daemon` process that owns the database connection, over a unix
socket in the data dir. No helper running: the record is written to the spool directory (the
helper stores it when it starts), a helper is started detached, and only SessionStart waits for it
(it has context to print). Whatever fails, the process exits 0 with nothing on stdout; the reason
goes to `<data dir>/hooks/hook.log`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO, TextIO

MAX_STDIN_BYTES = 32 * 1024 * 1024
MAX_LOG_BYTES = 1024 * 1024
REPLY_TIMEOUT = 5.0  # seconds an event waits for the helper's answer before spooling instead
CONTEXT_TIMEOUT = 20.0  # a SessionStart with no helper yet: its start (and a first migration) included
START_POLL = 0.02


class HookPaths:
    """Where the hook helper lives, under the data dir (ARCHON_DATA_DIR, as `serve` uses it)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        if data_dir is None:
            configured = os.environ.get("ARCHON_DATA_DIR", "").strip()
            if configured:
                data_dir = Path(configured).expanduser()
            else:
                import platformdirs

                data_dir = Path(platformdirs.user_data_dir("archon-mcp", appauthor=False))
        self.data_dir = data_dir
        self.root = data_dir / "hooks"
        self.spool = self.root / "spool"
        self.log = self.root / "hook.log"
        self.lock = self.root / "hookd.lock"
        self.pid = self.root / "hookd.pid"
        socket_path = self.root / "hookd.sock"
        if len(str(socket_path).encode()) > 100:  # AF_UNIX paths are limited to ~104-108 bytes
            import hashlib

            digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:16]
            socket_path = Path("/tmp") / f"archon-hookd-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}.sock"
        self.socket = socket_path

    def ensure(self) -> None:
        """The hooks folder and its spool, owner only (what is spooled is redacted, but private)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True, mode=0o700)
        self.spool.mkdir(exist_ok=True, mode=0o700)


def log_line(paths: HookPaths, message: str) -> None:
    """One line in the hook log (never raises: the log is the last resort)."""
    with contextlib.suppress(Exception):
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        paths.root.mkdir(exist_ok=True, mode=0o700)
        if paths.log.exists() and paths.log.stat().st_size > MAX_LOG_BYTES:
            os.replace(paths.log, paths.log.with_suffix(".log.1"))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(paths.log, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} pid={os.getpid()} {message}\n")


# --- talking to the helper ----------------------------------------------------------------------------
def request(paths: HookPaths, message: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Send one JSON line, read one JSON line back. None when no helper listens."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        try:
            conn.connect(str(paths.socket))
        except (FileNotFoundError, ConnectionRefusedError, OSError):
            return None
        conn.sendall(json.dumps(message, ensure_ascii=False).encode() + b"\n")
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
        data = b"".join(chunks)
        if not data:
            raise ConnectionError("the hook helper closed the connection without answering")
        return json.loads(data)
    finally:
        conn.close()


def spool(paths: HookPaths, record: dict[str, Any]) -> Path:
    """Write the record where the helper picks it up (whole file, renamed into place)."""
    paths.ensure()
    name = f"{time.time_ns():020d}-{os.getpid()}.json"
    partial = paths.spool / f".{name}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle, ensure_ascii=False)
    final = paths.spool / name
    os.replace(partial, final)
    return final


def start_helper(paths: HookPaths) -> None:
    """Start `archon-mcp hook daemon` detached: its own session, no tie to our stdout (the client
    waits for that to close), cwd in the data dir (so no project's .env is read)."""
    import subprocess  # only here: ~5 ms of every other hook call

    paths.ensure()
    log = open(paths.root / "hookd.out", "ab")
    try:
        subprocess.Popen(
            [sys.executable, "-m", "archon_mcp", "hook", "daemon"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=str(paths.root),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()


def deliver(paths: HookPaths, record: dict[str, Any]) -> str:
    """Hand the record to the helper; the text to print (SessionStart's context), else ""."""
    want = bool(record.get("want_context"))
    try:
        reply = request(paths, {"record": record}, CONTEXT_TIMEOUT if want else REPLY_TIMEOUT)
    except (OSError, ValueError) as exc:  # a helper that died mid-call: keep the record anyway
        log_line(paths, f"hook helper did not answer ({exc}); spooled")
        spool(paths, record)
        return ""
    if reply is not None:
        if reply.get("error"):
            log_line(paths, f"hook helper: {reply['error']}")
        return str(reply.get("stdout") or "")
    if not want:
        spool(paths, record)
        start_helper(paths)
        return ""
    start_helper(paths)
    deadline = time.monotonic() + CONTEXT_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(START_POLL)
        try:
            reply = request(paths, {"record": record}, max(0.1, deadline - time.monotonic()))
        except (OSError, ValueError):
            reply = None
        if reply is not None:
            return str(reply.get("stdout") or "")
    log_line(paths, "the hook helper did not start in time; SessionStart spooled without context")
    spool(paths, record)
    return ""


def run(client: str, stdin: BinaryIO | None = None, stdout: TextIO | None = None) -> int:
    """The whole hook call. Always 0; stdout gets one complete answer or nothing."""
    paths = HookPaths()
    try:
        from archon_mcp.hooks._payload import Limits, to_record

        raw = (stdin or sys.stdin.buffer).read(MAX_STDIN_BYTES + 1)
        if len(raw) > MAX_STDIN_BYTES:
            raise ValueError(f"the payload is over {MAX_STDIN_BYTES} bytes")
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"the payload is not JSON: {exc}") from None
        record = to_record(client, payload, Limits.from_env())
        if record is None:
            return 0
        text = deliver(paths, record)
        if text:
            out = stdout or sys.stdout
            out.write(text)
            out.flush()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            log_line(paths, f"{client} hook interrupted: {type(exc).__name__}")
        else:
            log_line(paths, f"{client} hook failed: {type(exc).__name__}: {exc}")
            if os.environ.get("ARCHON_HOOK_DEBUG"):
                log_line(paths, traceback.format_exc().replace("\n", " | "))
    return 0
