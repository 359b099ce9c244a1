"""What the processes sharing a data dir (the shared server, the model server, the hook helper)
use to find each other safely: an exclusive lock file and a check of a socket's owner. Standard
library only: the stdio relay and the hook client import it."""

from __future__ import annotations

import os
from pathlib import Path


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
