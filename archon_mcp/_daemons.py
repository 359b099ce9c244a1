"""What the long-lived processes of a data dir (the shared server, the model server, the hook
helper) and their clients have in common: an exclusive lock file, a check of a socket's owner, a
detached start, and leaving once the last client has gone. Standard library only, asyncio and
subprocess imported where used: the stdio relay and the hook client import this module."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

LOG_ROTATE_BYTES = 1_000_000


def hold(path: Path) -> int | None:
    """An exclusive lock on `path`, held until the descriptor is closed or the process ends (the
    kernel releases it even after SIGKILL); None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the callers' other checks remain
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def exists_and_ours(path: Path) -> bool:
    """Whether a socket file is at `path`. PermissionError when another user owns it: whoever
    listens there would read what we send."""
    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return False
    if hasattr(os, "getuid") and owner != os.getuid():
        raise PermissionError(f"{path} belongs to another user (uid {owner})")
    return True


def spawn_detached(module: str, args: list[str], env: Mapping[str, str], log_file: Path) -> Any:
    """`python -m module args...` in a session of its own (a terminal's Ctrl-C for its starter does not
    reach it), stderr appended to `log_file` (rotated past LOG_ROTATE_BYTES), running the same
    archon_mcp as this process (a checkout, a snapshot, the installed one). Returns the Popen."""
    import subprocess

    child_env = dict(env)
    package_root = str(Path(__file__).resolve().parent.parent)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with contextlib.suppress(OSError):
        if log_file.stat().st_size > LOG_ROTATE_BYTES:
            log_file.replace(log_file.with_name(log_file.name + ".1"))
    with open(log_file, "ab") as stderr:
        process = subprocess.Popen(
            # -P: `-m` would put the working directory (the client's, kept for its ./.env) first on sys.path,
            # and an archon_mcp folder there (a checkout of another version) would run instead of ours.
            [sys.executable, "-P", "-m", module, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, start_new_session=True, close_fds=True, env=child_env,
        )  # fmt: skip
    # Reap it when it exits, or it lingers as a zombie of this process.
    threading.Thread(target=process.wait, name=f"archon-reaper-{process.pid}", daemon=True).start()
    return process


class IdleExit:
    """Counts a server's connected clients and sets `stopping` once none has been there for `idle`
    seconds (the kernel closes a client's connection even when it dies by SIGKILL)."""

    def __init__(self, idle: float, stopping: asyncio.Event, log: logging.Logger) -> None:
        self.idle = idle
        self.stopping = stopping
        self.clients = 0
        self._log = log
        self._timer: asyncio.TimerHandle | None = None

    def schedule_stop(self, delay: float) -> None:
        import asyncio

        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        if self.clients == 0:
            self._log.info("no client for %.1f s: exiting", self.idle)
            self.stopping.set()

    def attach(self) -> None:
        self.clients += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def detach(self) -> None:
        self.clients -= 1
        if self.clients == 0 and not self.stopping.is_set():
            self.schedule_stop(self.idle)
