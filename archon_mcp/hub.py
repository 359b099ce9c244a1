"""The shared server behind every stdio `archon-mcp serve` of one data dir and settings (archon_mcp.relay).

Started by the first relay that finds none, as `python -m archon_mcp.hub --socket S --lock L`, in a
session of its own (a terminal's Ctrl-C for one client does not reach it), with that relay's
environment and working directory, so it reads the same settings. It holds L (flock) for its whole
life: a second one started by a race exits at once with status 0. It binds S before it opens the
application, so relays connect at once and the handshake is answered while PostgreSQL, the migrations
and the model come up, as in a stdio `serve`. Each connection is one MCP session
(`stdio.socket_transport`) over one application: one database pool, one embedding worker, one
embedder. A client is attached for as long as its connection is open (the kernel closes it when a
relay dies, even by SIGKILL); `ARCHON_SHARED_SERVER_IDLE` seconds after the last one closed the server
exits, as it does when nobody connects within that time of its start, and detaches from the embedded
PostgreSQL (the last process out stops it). SIGTERM and SIGINT stop it the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from pathlib import Path

from archon_mcp._daemons import IdleExit, hold
from archon_mcp.config import Settings

log = logging.getLogger("archon_mcp.hub")

# Nobody connected yet: wait at least this long before concluding the starter went away.
FIRST_CLIENT_GRACE_SECONDS = 30.0
CLOSE_SECONDS = 10.0


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def run_hub(settings: Settings, socket_path: Path, lock_path: Path, stopping: asyncio.Event) -> None:
    lock = hold(lock_path)
    if lock is None:
        log.info("another shared server holds %s", lock_path)
        return
    from archon_mcp.server import build_server
    from archon_mcp.startup import BackgroundApp
    from archon_mcp.stdio import _SOCKET_LINE_LIMIT, socket_transport

    _remove(socket_path)  # left by a server that was killed: we hold the lock, so it is not in use
    application = BackgroundApp(settings)
    server = build_server(settings, application, shared=True)
    lowlevel = server._lowlevel_server  # MCPServer has no public way to serve other streams
    options = lowlevel.create_initialization_options()
    hub = IdleExit(settings.shared_server_idle, stopping, log)
    sessions: set[asyncio.Task[None]] = set()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        hub.attach()
        try:
            async with socket_transport(reader, writer) as (read_stream, write_stream):
                await lowlevel.run(read_stream, write_stream, options)
        except Exception:
            log.exception("an MCP session ended with an error")
        finally:
            sessions.discard(task)
            writer.close()
            hub.detach()

    old_umask = os.umask(0o177)  # the socket: this user only
    try:
        listener = await asyncio.start_unix_server(session, path=str(socket_path), limit=_SOCKET_LINE_LIMIT)
    finally:
        os.umask(old_umask)
    log.info("shared server %d on %s", os.getpid(), socket_path)
    application.start()
    hub.schedule_stop(max(hub.idle, FIRST_CLIENT_GRACE_SECONDS))
    try:
        await stopping.wait()
    finally:
        listener.close()
        _remove(socket_path)
        for task in list(sessions):
            task.cancel()
        try:
            await asyncio.wait_for(application.close(), CLOSE_SECONDS)
        except TimeoutError:
            log.warning("the application did not close within %.0f s; leaving anyway", CLOSE_SECONDS)
        os.close(lock)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m archon_mcp.hub")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--lock", required=True, type=Path)
    args = parser.parse_args(argv)
    from archon_mcp.cli import _settings, _setup_logging
    from archon_mcp.lifecycle import serve_until_stopped

    try:
        settings = _settings()  # an invalid one is printed to the log; the relay then serves itself
    except Exception:
        raise SystemExit(2) from None
    _setup_logging(settings)
    if settings.embedding_provider == "local":
        from archon_mcp.embeddings._local import limit_malloc_arenas

        limit_malloc_arenas()

    async def _serve(stopping: asyncio.Event) -> None:
        await run_hub(settings, args.socket, args.lock, stopping)

    serve_until_stopped(_serve)


if __name__ == "__main__":
    main()
