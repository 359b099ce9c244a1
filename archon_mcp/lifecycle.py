"""How an `archon-mcp serve` process ends.

On end of input (stdio) or SIGTERM/SIGINT (any transport) the application closes (every
acknowledged write is already committed; an embedding batch in flight is abandoned and its rows
handed back to the queue), the process detaches from the embedded PostgreSQL (the last process out
stops it), and the process exits at once: no interpreter teardown. The teardown was most of a
stdio server's exit time once the model was loaded (~1.3 s of freeing torch objects), and it would
join threads that cannot be interrupted: one loading the model (~5 s), the SDK's stdin reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from archon_mcp import embedded
from archon_mcp.errors import ArchonError

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# After a stop signal, leave this many seconds later even if closing has not finished.
FORCED_EXIT_SECONDS = 10.0


def serve_until_stopped(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> NoReturn:
    """Run `main(stopping)` on a new event loop and end the process when it returns.

    `stopping` is set on SIGTERM or SIGINT; `main` should then wind down and return. After it,
    the process detaches from the embedded PostgreSQL and exits: status 0 after end of input,
    1 after an error, and after a signal it dies of that signal (what its sender expects)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stopping = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if received:  # repeated (uvicorn also re-raises the one it caught): already stopping
            return
        log.info("%s: stopping", signal.Signals(signum).name)
        received.append(signum)
        stopping.set()
        loop.call_later(FORCED_EXIT_SECONDS, _leave_after_timeout, signum)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    status = 0
    try:
        loop.run_until_complete(main(stopping))
    except ArchonError as exc:
        print(f"archon-mcp: {exc}", file=sys.stderr)
        status = 1
    except Exception:
        log.exception("archon-mcp serve failed")
        status = 1
    leave(received[0] if received else None, status)


def _leave_after_timeout(signum: int) -> None:
    log.warning("still closing %.0f s after %s; leaving now", FORCED_EXIT_SECONDS, signal.Signals(signum).name)
    leave(signum, 1)


def leave(signum: int | None, status: int) -> NoReturn:
    """Detach from the embedded PostgreSQL, flush what was logged, and end the process now."""
    embedded.detach()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if signum is not None:
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        status = 128 + signum  # not reached, unless the signal is ignored by the whole process
    os._exit(status)
