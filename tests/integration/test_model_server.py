"""The shared model process, with real subprocesses: racing clients get one server, a killed server
is replaced on the next embedding, the last client out stops it, and an unusable socket falls back
to the model in the client's own process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from mcp import Client, StdioServerParameters

from archon_mcp.config import Settings
from archon_mcp.embeddings._protocol import log_path, socket_path
from archon_mcp.embeddings._shared import SharedModelEmbedder
from tests.helpers import archon_command, call, server_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MODEL, DIMENSIONS = "all-MiniLM-L6-v2", 384
IDLE = 0.5  # seconds the server stays after its last client, in these tests
RUNTIME_LIBRARIES = ("libopenvino", "onnxruntime", "libtorch")

CLIENT = """
import asyncio, json, sys
from pathlib import Path
from archon_mcp.embeddings._shared import SharedModelEmbedder

async def main():
    embedder = SharedModelEmbedder("all-MiniLM-L6-v2", 384, data_dir=Path(sys.argv[1]), cache_dir=Path(sys.argv[2]),
                                   idle=float(sys.argv[3]))
    vectors = await embedder.embed(["hello from a client"])
    print(json.dumps({"pid": embedder.server_pid, "dims": len(vectors[0]), "fallback": embedder._fallback is not None,
                      "runtimes": [m for m in ("onnxruntime", "openvino", "torch") if m in sys.modules]}), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # attached until the test closes stdin
    await embedder.aclose()

asyncio.run(main())
"""


@pytest.fixture
def model_dir() -> Iterator[Path]:
    """A data dir of its own (short path: the socket lives in it)."""
    path = Path(tempfile.mkdtemp(prefix="archon-model-"))
    yield path
    for process in model_servers(path):  # a failed test must not leave one behind
        process.kill()


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    return Settings().model_cache_dir


def model_servers(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "archon_mcp.embeddings._model_server" in cmdline and str(data_dir) in cmdline:
            found.append(process)
    return found


def wait_until(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def server_log(data_dir: Path) -> str:
    path = log_path(data_dir)
    return path.read_text()[-3000:] if path.exists() else "(no log)"


def start_client(data_dir: Path, cache_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(data_dir), str(cache_dir), str(IDLE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def report(client: subprocess.Popen[str], data_dir: Path) -> dict:
    assert client.stdout is not None
    line = client.stdout.readline()
    assert line, f"client exited: {client.stderr.read() if client.stderr else ''}\n{server_log(data_dir)}"
    return json.loads(line)


def detach(client: subprocess.Popen[str]) -> None:
    assert client.stdin is not None
    client.stdin.close()
    assert client.wait(timeout=60) == 0, client.stderr.read() if client.stderr else ""


def test_racing_clients_get_one_server_and_load_no_model(model_dir: Path, cache_dir: Path) -> None:
    clients = [start_client(model_dir, cache_dir) for _ in range(4)]
    try:
        reports = [report(client, model_dir) for client in clients]
        servers = model_servers(model_dir)
        assert len(servers) == 1, f"{len(servers)} model servers for one data dir\n{server_log(model_dir)}"
        assert {r["pid"] for r in reports} == {servers[0].pid}, reports
        for r in reports:
            assert r["dims"] == DIMENSIONS and not r["fallback"], r
            assert r["runtimes"] == [], f"a client loaded a model runtime itself: {r}"
    finally:
        for client in clients:
            detach(client)
    wait_until(lambda: not model_servers(model_dir), 30, "the model server outlived its last client")
    assert not socket_path(model_dir).exists()


def test_server_stays_while_a_client_is_attached_and_stops_after_the_last(model_dir: Path, cache_dir: Path) -> None:
    first, second = start_client(model_dir, cache_dir), start_client(model_dir, cache_dir)
    pid = report(first, model_dir)["pid"]
    assert report(second, model_dir)["pid"] == pid
    detach(first)
    time.sleep(IDLE + 1.5)
    assert psutil.pid_exists(pid) and model_servers(model_dir), "the server stopped with a client still attached"
    detach(second)
    wait_until(lambda: not psutil.pid_exists(pid), 30, "the model server outlived its last client")
    assert not model_servers(model_dir)


async def test_killed_server_is_replaced_and_the_batch_in_flight_still_returns(
    model_dir: Path, cache_dir: Path
) -> None:
    embedder = SharedModelEmbedder(MODEL, DIMENSIONS, data_dir=model_dir, cache_dir=cache_dir, idle=IDLE)
    try:
        before = (await embedder.embed(["the deploy failed on kubernetes"]))[0]
        first = embedder.server_pid
        assert first is not None
        assert embedder.runtime_in_use in ("openvino-bf16", "onnx"), "the server's runtime, as stats report it"
        texts = [f"event {i}: " + "a long enough text to keep the model busy " * 20 for i in range(200)]
        batch = asyncio.create_task(embedder.embed(texts, background=True))
        await asyncio.sleep(0.3)
        os.kill(first, signal.SIGKILL)
        vectors = await asyncio.wait_for(batch, 300)
        assert len(vectors) == len(texts) and all(len(v) == DIMENSIONS for v in vectors)
        after = (await embedder.embed(["the deploy failed on kubernetes"]))[0]
        assert embedder.server_pid not in (None, first), "no new model server was started"
        assert embedder._fallback is None, "fell back to an in-process model instead of restarting the server"
        assert after == pytest.approx(before, abs=1e-6)
        assert [p.pid for p in model_servers(model_dir)] == [embedder.server_pid]
    finally:
        await embedder.aclose()
    await asyncio.to_thread(wait_until, lambda: not model_servers(model_dir), 30, "server left after the client")


async def test_unusable_socket_falls_back_to_the_model_in_process(model_dir: Path, cache_dir: Path) -> None:
    socket_path(model_dir).mkdir()  # something that is not a socket sits where the socket goes
    embedder = SharedModelEmbedder(MODEL, DIMENSIONS, data_dir=model_dir, cache_dir=cache_dir, idle=IDLE)
    try:
        vectors = await embedder.embed(["hello", "привет"])
        assert [len(v) for v in vectors] == [DIMENSIONS, DIMENSIONS]
        assert embedder._fallback is not None and type(embedder._fallback).__name__ == "AutoEmbedder"
        assert embedder.runtime_in_use == embedder._fallback.runtime_in_use is not None
        assert not model_servers(model_dir)
        assert (await embedder.embed(["hello"]))[0] == pytest.approx(vectors[0], abs=1e-6)
    finally:
        await embedder.aclose()


async def test_a_client_wanting_another_runtime_leaves_the_server_alone(model_dir: Path, cache_dir: Path) -> None:
    onnx = SharedModelEmbedder(MODEL, DIMENSIONS, data_dir=model_dir, cache_dir=cache_dir, idle=IDLE)
    torch = SharedModelEmbedder(MODEL, DIMENSIONS, data_dir=model_dir, cache_dir=cache_dir, idle=IDLE, runtime="torch")
    try:
        reference = (await onnx.embed(["a decision about the cache"]))[0]
        other = (await torch.embed(["a decision about the cache"]))[0]
        assert type(torch._fallback).__name__ == "LocalEmbedder", "the torch client should run its own model"
        assert [p.pid for p in model_servers(model_dir)] == [onnx.server_pid]
        dot = sum(a * b for a, b in zip(reference, other, strict=True))
        assert dot >= 0.999
    finally:
        await onnx.aclose()
        await torch.aclose()


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
async def test_stdio_servers_share_one_model_process(data_dir: Path, admin_url: str) -> None:
    """Two real stdio `serve` processes on one data dir: one model process, and neither serve
    maps a model runtime (OpenVINO, ONNX Runtime or torch) into its own memory."""
    before = {p.pid for p in model_servers(data_dir)}
    params = [
        StdioServerParameters(
            command=archon_command()[0],
            args=[*archon_command()[1:], "serve"],
            env={**server_env(data_dir, f"archon_shared_{i}"), "ARCHON_MODEL_SERVER_IDLE": str(IDLE)},
        )
        for i in range(2)
    ]
    async with Client(params[0]) as one, Client(params[1]) as two:
        for client in (one, two):
            session = await call(client, "archon_create_session", agent="claude")
            await call(client, "archon_end_session", session_id=session["id"], summary="Shipped the helm chart")
            found = await call(client, "archon_search_sessions", query="helm chart release", threshold=0.3)
            assert session["id"] in [r["id"] for r in found["results"]]
        servers = model_servers(data_dir)
        assert len(servers) == 1, f"{len(servers)} model servers for one data dir\n{server_log(data_dir)}"
        serves = [
            p
            for p in psutil.Process().children(recursive=True)
            if "serve" in (p.cmdline() or []) and p.pid not in before
        ]
        assert len(serves) == 2, [p.cmdline() for p in serves]
        for serve in serves:
            maps = _maps(serve.pid)
            assert not any(lib in maps for lib in RUNTIME_LIBRARIES), f"serve {serve.pid} loaded a model runtime"
        model_pid = servers[0].pid
        assert any(lib in _maps(model_pid) for lib in RUNTIME_LIBRARIES[:2])
    await asyncio.to_thread(
        wait_until, lambda: not psutil.pid_exists(model_pid), 30, "the model server outlived both serves"
    )


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to plant another user's socket")
async def test_a_socket_of_another_user_gets_no_text(model_dir: Path, cache_dir: Path) -> None:
    import socket

    planted = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    planted.bind(str(socket_path(model_dir)))
    planted.listen()
    os.chown(socket_path(model_dir), 65534, 65534)
    planted.setblocking(False)
    embedder = SharedModelEmbedder(MODEL, DIMENSIONS, data_dir=model_dir, cache_dir=cache_dir, idle=IDLE)
    try:
        vectors = await embedder.embed(["a private note"])
        assert len(vectors[0]) == DIMENSIONS and embedder._fallback is not None
        with pytest.raises(BlockingIOError):
            planted.accept()  # nobody connected to it
    finally:
        await embedder.aclose()
        planted.close()


async def test_a_client_sending_garbage_is_dropped_and_others_are_served(model_dir: Path, cache_dir: Path) -> None:
    embedder = SharedModelEmbedder(MODEL, DIMENSIONS, data_dir=model_dir, cache_dir=cache_dir, idle=IDLE)
    try:
        before = (await embedder.embed(["the cache was warmed"]))[0]
        reader, writer = await asyncio.open_unix_connection(str(socket_path(model_dir)))
        writer.write((2**31).to_bytes(4, "big"))  # a frame over the limit
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b"", "the server kept a client that sent garbage"
        writer.close()
        reader, writer = await asyncio.open_unix_connection(str(socket_path(model_dir)))
        writer.write((9).to_bytes(4, "big") + b'{"op": 1}')  # JSON, but no such operation
        await writer.drain()
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(4), 10), "big")
        answer = json.loads(await reader.readexactly(size))
        assert answer["ok"] is False and "unknown op" in answer["error"], answer
        writer.close()
        assert (await embedder.embed(["the cache was warmed"]))[0] == pytest.approx(before, abs=1e-6)
    finally:
        await embedder.aclose()
