"""How an `archon-mcp serve` process ends.

On end of input (stdio) or SIGTERM/SIGINT (any transport) the application closes (every
acknowledged write is already committed; an embedding batch in flight is abandoned and its rows
handed back to the queue), the process detaches from the embedded PostgreSQL (the last process out
stops it), and the process exits at once, without the interpreter's teardown: once the model is
loaded that teardown alone took ~1 s (collecting torch's objects), and it joins threads that
nothing can interrupt: one still loading the model (~5 s), or the SDK's stdin reader, which blocks
until the client closes stdin.
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
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except NotImplementedError:  # Windows event loops
            signal.signal(signum, lambda sig, _frame: loop.call_soon_threadsafe(on_signal, sig))
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
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        status = 128 + signum  # not reached, unless the signal is ignored by the whole process
    os._exit(status)
