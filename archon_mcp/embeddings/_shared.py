"""An `Embedder` that asks the data dir's shared model process (`_model_server`) for vectors.

The process that uses it loads no model runtime: it connects to the socket in the data dir,
starting the server first when none answers (under a lock, so racing clients start one). When the
server dies mid-request the client starts a new one and asks again; when no server can be reached
or started (the socket path is unusable, say) it loads the model itself and tries the server
again `RETRY_SHARED_SECONDS` later. Errors of the model itself (a bad configuration) are raised as
`EmbeddingError`, as the in-process embedder would.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from archon_mcp._daemons import exists_and_ours, hold, spawn_detached
from archon_mcp.embeddings._protocol import (
    ProtocolError,
    log_path,
    read_frame,
    socket_path,
    spawn_lock_path,
    unpack_vectors,
    write_frame,
)
from archon_mcp.errors import EmbeddingError

log = logging.getLogger(__name__)

# How long a started server may take to open its socket (a Python start-up on a busy machine).
START_SECONDS = 30.0
# The first embedding waits for the model to load (once per machine: the ONNX export, ~10 s).
LOAD_SECONDS = 600.0
RETRY_SHARED_SECONDS = 30.0
BACKGROUND_TIMEOUT_FACTOR = 10


class _Unreachable(Exception):
    """No shared server could be reached or started."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0
        self.warm = False
        self.info: dict[str, Any] = {}
        self.task = asyncio.create_task(self._read())

    @property
    def open(self) -> bool:
        return not self.task.done()

    async def _read(self) -> None:
        try:
            while True:
                answer = await read_frame(self.reader)
                future = self.pending.pop(answer.get("id"), None)  # type: ignore[arg-type]
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError, ValueError, OSError):
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionResetError("the model server closed the connection"))
            self.pending.clear()
            self.writer.close()

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        if not self.open:
            raise ConnectionResetError("the model server closed the connection")
        self.next_id += 1
        request_id = self.next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            write_frame(self.writer, {**message, "id": request_id})
            await self.writer.drain()
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(request_id, None)
        if not answer.get("ok"):
            raise EmbeddingError(f"the model server could not embed: {answer.get('error')}")
        return answer

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


class SharedModelEmbedder:
    provider = "local"

    def __init__(
        self,
        model: str,
        dimensions: int,
        *,
        data_dir: Path,
        cache_dir: Path,
        runtime: str = "auto",
        threads: int = 1,
        idle: float = 10.0,
        timeout: float = 30.0,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.runtime = runtime
        self.threads = threads
        self.idle = idle
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._fallback: Any = None
        self._shared_again_at = 0.0
        self.server_pid: int | None = None  # of the server last connected to (tests, benchmarks)
        self._loaded_runtime: str | None = None

    @property
    def runtime_in_use(self) -> str | None:
        """What runs the model: the shared server's runtime, or this process's own when it fell back."""
        if self._fallback is not None and self._fallback.runtime_in_use is not None and not self._use_shared():
            return str(self._fallback.runtime_in_use)
        return self._loaded_runtime

    # --- the server ------------------------------------------------------------------------
    async def _connect_once(self) -> _Connection | None:
        path = socket_path(self.data_dir)
        try:
            if not exists_and_ours(path):  # texts go to whoever listens there: only a server of ours
                return None
        except OSError as exc:
            raise _Unreachable(str(exc)) from exc
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        except OSError as exc:  # not a socket, no permission, path too long...
            raise _Unreachable(str(exc)) from exc
        conn = _Connection(reader, writer)
        try:
            conn.info = await conn.request({"op": "hello"}, START_SECONDS)
        except (ConnectionError, TimeoutError, EmbeddingError):
            conn.close()
            return None
        wanted = (self.model, self.dimensions, self.runtime)
        found = (conn.info.get("model"), conn.info.get("dimensions"), conn.info.get("runtime"))
        if found != wanted:
            conn.close()
            raise _Unreachable(f"the model server on {self.data_dir} runs {found}, this process wants {wanted}")
        self.server_pid = conn.info.get("pid")
        return conn

    async def _connection(self) -> _Connection:
        if self._conn is not None and self._conn.open:
            return self._conn
        async with self._connecting:
            if self._conn is not None and self._conn.open:
                return self._conn
            conn = await self._connect_once()
            if conn is None:
                conn = await self._start_server()
            self._conn = conn
            return conn

    async def _start_server(self) -> _Connection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = await _take_lock(spawn_lock_path(self.data_dir), START_SECONDS)
        try:
            conn = await self._connect_once()  # a racing client may have started it meanwhile
            if conn is not None:
                return conn
            process = self._spawn()
            deadline = time.monotonic() + START_SECONDS
            while time.monotonic() < deadline:
                conn = await self._connect_once()
                if conn is not None:
                    return conn
                if process.poll() is not None and process.returncode != 0:
                    raise _Unreachable(
                        f"the model server exited with status {process.returncode}; see {log_path(self.data_dir)}"
                    )
                await asyncio.sleep(0.02)
            raise _Unreachable(f"the model server did not open its socket within {START_SECONDS:.0f} s")
        finally:
            os.close(lock)

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            "archon_mcp.embeddings._model_server",
            "--data-dir", str(self.data_dir), "--cache-dir", str(self.cache_dir),
            "--model", self.model, "--dimensions", str(self.dimensions),
            "--runtime", self.runtime, "--threads", str(self.threads), "--idle", str(self.idle),
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        process = spawn_detached(command[0], command[1:], env, log_path(self.data_dir))
        log.info("started the shared model server (pid %d) on %s", process.pid, self.data_dir)
        return process

    async def _warm(self, conn: _Connection) -> None:
        """Wait for the server's model (once per connection), and learn what runs it."""
        if not conn.warm:
            self._loaded_runtime = (await conn.request({"op": "warmup"}, LOAD_SECONDS)).get("runtime_in_use")
            conn.warm = True

    async def _shared(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One request to the server; when the connection breaks, once more to a fresh server."""
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                await self._warm(conn)
                return await conn.request(message, timeout)
            except ConnectionError:
                conn.close()
                if attempt == 2:
                    raise _Unreachable("the model server went away twice") from None
                log.warning("the shared model server went away; starting it again")
            except TimeoutError:
                raise EmbeddingError(f"the model server did not answer within {timeout:.0f} s") from None
        raise AssertionError("unreachable")

    # --- in-process fallback ---------------------------------------------------------------
    def _local(self) -> Any:
        if self._fallback is None:
            from archon_mcp.embeddings import local_embedder

            self._fallback = local_embedder(
                self.model, self.dimensions, runtime=self.runtime, threads=self.threads,
                cache_dir=self.cache_dir,
            )  # fmt: skip
        return self._fallback

    def _use_shared(self) -> bool:
        return time.monotonic() >= self._shared_again_at

    def _give_up_shared(self, exc: Exception) -> None:
        log.warning(
            "cannot use the shared model server on %s (%s); loading the model in this process, "
            "trying the server again in %.0f s",
            self.data_dir, exc, RETRY_SHARED_SECONDS,
        )  # fmt: skip
        self._shared_again_at = time.monotonic() + RETRY_SHARED_SECONDS

    # --- Embedder --------------------------------------------------------------------------
    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        if not texts:
            return []
        if self._use_shared():
            try:
                # A queue batch may wait behind other clients' batches on the server's one background
                # thread; only a search's query gets the per-request timeout.
                timeout = self.timeout * BACKGROUND_TIMEOUT_FACTOR if background else self.timeout
                answer = await self._shared({"op": "embed", "texts": texts, "background": background}, timeout)
                vectors = unpack_vectors(answer)
            except (_Unreachable, ProtocolError, OSError) as exc:
                self._give_up_shared(exc)
            else:
                if len(vectors) != len(texts) or any(len(v) != self.dimensions for v in vectors):
                    raise EmbeddingError(f"the model server sent {len(vectors)} vectors for {len(texts)} texts")
                return vectors
        return await self._local().embed(texts, background=background)

    async def warmup(self) -> None:
        if self._use_shared():
            try:
                await self._warm(await self._connection())
                return
            except (_Unreachable, ConnectionError, OSError) as exc:
                self._give_up_shared(exc)
        await self._local().warmup()

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._fallback is not None:
            await self._fallback.aclose()


async def _take_lock(path: Path, seconds: float) -> int:
    """The spawn lock's descriptor. Polled without blocking: a cancelled caller leaves no thread
    behind that would take the lock later and hold it for good."""
    deadline = time.monotonic() + seconds
    while (fd := hold(path)) is None:
        if time.monotonic() > deadline:
            raise _Unreachable(f"another process held {path} for {seconds:.0f} s")
        await asyncio.sleep(0.02)
    return fd
