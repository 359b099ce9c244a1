"""Background start-up: the MCP handshake is answered at once, while the database, migrations and the
embedding worker come up behind it. Tool calls wait until the application is ready.

Clients (Claude Desktop, IDEs) give a server a few seconds to answer `initialize`; starting PostgreSQL,
checking migrations and importing SQLAlchemy would take most of them. This module must not import
anything heavy at module level: it is on the path to the first answer."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING

from archon_mcp.config import Settings
from archon_mcp.errors import ArchonError

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

log = logging.getLogger(__name__)


class StartupError(ArchonError):
    """The application could not be opened (the message says why and what to fix)."""


class BackgroundApp:
    """Opens `open_app(settings)` in a task of its own and keeps it open until closed.

    A failed start is reported to every caller of `get()` and tried again on the next call, so a
    database that comes up later is picked up without restarting the server."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: AppContext | None = None
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._error = None
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name="archon-startup")

    async def _run(self) -> None:
        try:
            # Imported in a thread: the event loop keeps answering the handshake meanwhile.
            module = await asyncio.to_thread(importlib.import_module, "archon_mcp.app")
            async with module.open_app(self._settings) as app:
                self._app = app
                self._ready.set()
                log.info("archon-mcp is ready")
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # reported to the tool calls that wait for the app
            log.error("archon-mcp could not start: %s", exc)
            self._error = exc
        finally:
            self._app = None
            self._ready.set()

    async def get(self) -> AppContext:
        if self._error is not None and self._task is not None and self._task.done():
            self.start()  # try again: the database may be back
        await self._ready.wait()
        if self._app is None:
            exc = self._error
            if isinstance(exc, ArchonError):
                raise StartupError(str(exc)) from exc
            raise StartupError(
                f"archon-mcp could not open its database: {exc or 'the server is shutting down'}. "
                "Check ARCHON_DATABASE_URL (unset, the embedded PostgreSQL is used); this call changed "
                "nothing, and the next call tries again."
            ) from exc
        return self._app

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None:
            return
        if not self._ready.is_set():  # still starting: nothing to finish cleanly
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
