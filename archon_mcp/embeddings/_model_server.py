"""The shared model process: one per data dir, serving every archon-mcp process there.

Started by the first client that finds no server (`_shared.SharedModelEmbedder`) as
`python -m archon_mcp.embeddings._model_server --data-dir ... --model ...`, in a session of its own
(a terminal's Ctrl-C for one client does not reach it). It holds `model-server.lock` for its whole
life, so a second one started by a racing client exits at once. It binds the socket before loading
the model: clients connect at once and their first embedding waits for the load. A client is
attached for as long as its connection is open (the kernel closes it when a client dies, even by
SIGKILL, so there is no PID list to prune); `idle` seconds after the last connection closed the
server exits, and it also exits when nobody connects within `idle` seconds of its start (its
starter died). Queue batches (`background`) run on one low-priority thread shared by all clients;
query embeddings run beside them at normal priority.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from archon_mcp._daemons import IdleExit, hold
from archon_mcp.embeddings._protocol import (
    ProtocolError,
    pack_vectors,
    read_frame,
    server_lock_path,
    socket_path,
    write_frame,
)

log = logging.getLogger("archon_mcp.model_server")

# Nobody connected yet: wait at least this long before concluding the starter went away.
FIRST_CLIENT_GRACE_SECONDS = 30.0


class ModelServer:
    def __init__(self, embedder: Any, *, runtime: str, idle: float) -> None:
        self.embedder = embedder
        self.runtime = runtime
        self.stopping = asyncio.Event()
        self.attached = IdleExit(idle, self.stopping, log)
        self._loaded: asyncio.Task[None] | None = None

    def start_loading(self) -> None:
        self._loaded = asyncio.create_task(self.embedder.warmup())
        self.attached.schedule_stop(max(self.attached.idle, FIRST_CLIENT_GRACE_SECONDS))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attached.attach()
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    request = await read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except (ProtocolError, ValueError) as exc:
                    log.warning("dropping a client that sent a bad frame: %s", exc)
                    return
                task = asyncio.create_task(self._answer(request, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            writer.close()
            self.attached.detach()

    async def _answer(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        answer: dict[str, Any] = {"id": request.get("id")}
        try:
            answer.update(await self._run(request))
            answer["ok"] = True
        except Exception as exc:  # sent to the client, which raises EmbeddingError with it
            answer.update(ok=False, error=str(exc) or type(exc).__name__)
        with contextlib.suppress(ConnectionError, RuntimeError):
            write_frame(writer, answer)
            await writer.drain()

    async def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            return {
                "pid": os.getpid(),
                "model": self.embedder.model,
                "dimensions": self.embedder.dimensions,
                "runtime": self.runtime,
                "clients": self.attached.clients,
            }
        assert self._loaded is not None
        if self._loaded.done() and self._loaded.exception() is not None:
            # The last load failed (an export that failed, say): try again for this request.
            self._loaded = asyncio.create_task(self.embedder.warmup())
        if op == "warmup":
            await asyncio.shield(self._loaded)
            return {"runtime_in_use": getattr(self.embedder, "runtime_in_use", None)}
        if op == "embed":
            texts = request.get("texts")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("embed needs `texts`, a list of strings")
            await asyncio.shield(self._loaded)
            vectors = await self.embedder.embed(texts, background=bool(request.get("background")))
            return pack_vectors(vectors)
        raise ValueError(f"unknown op {op!r}: expected hello, warmup or embed")


async def serve(args: argparse.Namespace) -> int:
    from archon_mcp.embeddings import local_embedder

    data_dir = Path(args.data_dir)
    lock = hold(server_lock_path(data_dir))
    if lock is None:
        log.info("another model server runs on %s", data_dir)
        return 0
    path = socket_path(data_dir)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a server that was killed: we hold the lock, so it is not in use
    embedder = local_embedder(
        args.model, args.dimensions, runtime=args.runtime, threads=args.threads, cache_dir=Path(args.cache_dir)
    )
    server = ModelServer(embedder, runtime=args.runtime, idle=args.idle)
    old_umask = os.umask(0o177)  # the socket: this user only
    try:
        listener = await asyncio.start_unix_server(server.handle, path=str(path))
    finally:
        os.umask(old_umask)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.stopping.set)
    log.info("model server %d on %s (%s, %s)", os.getpid(), path, args.model, args.runtime)
    server.start_loading()
    await server.stopping.wait()
    listener.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.close(lock)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m archon_mcp.embeddings._model_server")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--cache-dir", required=True, help="where the ONNX export is cached")
    parser.add_argument("--model", required=True)
    parser.add_argument("--dimensions", type=int, required=True)
    parser.add_argument("--runtime", choices=("auto", "openvino", "onnx", "torch"), default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s model-server %(levelname)s %(message)s")
    from archon_mcp.embeddings._local import limit_malloc_arenas

    limit_malloc_arenas()
    status = asyncio.run(serve(args))
    logging.shutdown()
    sys.stderr.flush()
    os._exit(status)  # threads still encoding an abandoned batch must not hold the exit


if __name__ == "__main__":
    main()
