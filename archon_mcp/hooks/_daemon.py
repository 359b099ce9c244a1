"""The hook helper: `archon-mcp hook daemon`, started detached by the first hook call.

One per data dir (an exclusive lock beside the socket). It attaches to the store the way `serve`
does (`Database.start`: the embedded PostgreSQL, or ARCHON_DATABASE_URL), applies pending
migrations once when it starts (not on every hook call), answers hook processes on a unix socket
(one JSON line in, one out), stores what hooks spooled while it was not running, and exits after
ARCHON_HOOK_DAEMON_IDLE_SECONDS without a call once its background summaries are done.

It loads no embedding model (no torch, no sentence-transformers): rows it writes stay `pending`
and are embedded by a running server's worker (which polls for rows written by other processes)
or by `archon-mcp reembed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from archon_mcp._daemons import hold
from archon_mcp.config import Settings
from archon_mcp.hooks._client import HookPaths, log_line

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024 * 1024
SPOOL_POLL = 1.0


class HookDaemon:
    def __init__(self, settings: Settings, paths: HookPaths) -> None:
        self.settings = settings
        self.paths = paths
        self.last_call = time.monotonic()
        self.calls = 0
        self.stopping = asyncio.Event()
        self.recorder: Any = None
        self.database: Any = None
        self._draining = asyncio.Lock()  # the startup drain, the poll and a "drain" request never overlap

    async def open(self) -> None:
        from archon_mcp.db import Database
        from archon_mcp.services.hooks import HookRecorder
        from archon_mcp.services.projects import ProjectService
        from archon_mcp.services.resume import ResumeService
        from archon_mcp.services.sessions import SessionService
        from archon_mcp.services.summaries import SummaryService

        self.database = Database(self.settings)
        await self.database.start(check_embedding=False)
        sessions = SessionService(self.database, self.settings, lambda: None)
        summaries = SummaryService(self.database, sessions, self.settings)
        self.summaries = summaries
        self.recorder = HookRecorder(
            self.database,
            self.settings,
            sessions,
            summaries,
            ResumeService(self.database, None, self.settings),
            ProjectService(self.database),
        )

    async def close(self) -> None:
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.recorder.wait_background(), timeout=30)
            await self.summaries.aclose()
        if self.database is not None:
            await self.database.close()

    # --- requests ------------------------------------------------------------------------------------
    async def answer(self, message: Any) -> dict[str, Any]:
        self.last_call = time.monotonic()
        self.calls += 1
        if not isinstance(message, dict):
            return {"error": "a request must be a JSON object"}
        if message.get("action") == "status":
            heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
            return {"pid": os.getpid(), "calls": self.calls, "heavy_modules": heavy, "busy": self.recorder.busy}
        if message.get("action") == "shutdown":
            self.stopping.set()
            return {"stopping": True}
        if message.get("action") == "drain":
            await self.drain_spool()
            await self.recorder.wait_background()
            return {"drained": True}
        try:
            return {"stdout": await self.recorder.handle(message.get("record"))}
        except Exception as exc:
            log_line(self.paths, f"hook record failed: {type(exc).__name__}: {exc}")
            return {"stdout": "", "error": f"{type(exc).__name__}: {exc}"[:500]}

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                message = json.loads(line) if line else None
            except ValueError:
                message = None
            reply = await self.answer(message) if message is not None else {"error": "not a JSON line"}
            writer.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        except Exception as exc:  # one broken client must not stop the others
            log_line(self.paths, f"hook connection failed: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    # --- the spool -----------------------------------------------------------------------------------
    async def drain_spool(self) -> int:
        """Store every spooled record, oldest first; a record that fails is moved aside (`.failed`)."""
        async with self._draining:
            return await self._drain()

    async def _drain(self) -> int:
        try:
            names = sorted(p for p in os.listdir(self.paths.spool) if p.endswith(".json"))
        except FileNotFoundError:
            return 0
        done = 0
        for name in names:
            path = self.paths.spool / name
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                record = {**record, "want_context": False}
                await self.recorder.handle(record)
                path.unlink(missing_ok=True)
                done += 1
            except FileNotFoundError:
                continue
            except Exception as exc:
                log_line(self.paths, f"spooled record {name} failed: {type(exc).__name__}: {exc}")
                with contextlib.suppress(OSError):
                    os.replace(path, path.with_suffix(".failed"))
        if done:
            self.last_call = time.monotonic()
        return done

    async def housekeeping(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=SPOOL_POLL)
            if self.stopping.is_set():
                return
            try:
                await self.drain_spool()
            except Exception as exc:
                log_line(self.paths, f"spool drain failed: {type(exc).__name__}: {exc}")
            idle = time.monotonic() - self.last_call
            if idle > self.settings.hook_daemon_idle_seconds and not self.recorder.busy:
                self.stopping.set()


def _take_lock(paths: HookPaths) -> int | None:
    """The helper's exclusive lock (held until exit), or None when another helper has it."""
    paths.ensure()
    return hold(paths.lock)


async def serve(settings: Settings, paths: HookPaths | None = None) -> int:
    paths = paths or HookPaths(settings.data_dir)
    lock = _take_lock(paths)
    if lock is None:
        return 0  # another helper runs: nothing to do
    daemon = HookDaemon(settings, paths)
    server = None
    try:
        await daemon.open()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.socket)
        old_umask = os.umask(0o177)  # the socket: owner only
        try:
            server = await asyncio.start_unix_server(daemon.on_connection, path=str(paths.socket), limit=MAX_LINE)
        finally:
            os.umask(old_umask)
        Path(paths.pid).write_text(str(os.getpid()))  # noqa: ASYNC240 - a few bytes, once
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, ValueError):
                loop.add_signal_handler(signum, daemon.stopping.set)  # stop cleanly: detach from PostgreSQL
        log_line(paths, f"hook helper started (data dir {settings.data_dir})")
        await daemon.drain_spool()
        await daemon.housekeeping()
    except Exception as exc:
        log_line(paths, f"hook helper failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        # Stop listening first: a hook that cannot connect spools (the next helper stores it).
        if server is not None:
            server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(paths.socket)
            with contextlib.suppress(Exception):
                await daemon.drain_spool()
        with contextlib.suppress(Exception):
            await daemon.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.pid)
        log_line(paths, "hook helper stopped")
        os.close(lock)
    return 0


def main() -> int:
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings()
    except Exception as exc:
        log_line(HookPaths(), f"hook helper: invalid configuration: {exc}")
        return 2
    return asyncio.run(serve(settings))
