"""The model server's wire format and where its files live (shared by server and clients).

One frame = 4-byte big-endian length + a UTF-8 JSON object. Requests carry an `id`, answers echo
it, so one connection carries a search's query and a queue batch at the same time. Vectors travel
as base64 of little-endian float32 (`vectors`, `count`, `dimensions`): a batch of 64 is ~130 KB
instead of ~500 KB of JSON numbers, and decodes with the standard library alone.
"""

from __future__ import annotations

import array
import asyncio
import base64
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

MAX_FRAME_BYTES = 64 * 1024 * 1024
# A unix socket path longer than this (sun_path is 108 bytes on Linux, 104 on macOS) goes to /tmp.
MAX_SOCKET_PATH = 100


class ProtocolError(Exception):
    pass


def socket_path(data_dir: Path) -> Path:
    path = data_dir / "model.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"archon-model-{key}.sock"


def server_lock_path(data_dir: Path) -> Path:
    """Held (flock) by the running model server for its whole life: at most one per data dir."""
    return data_dir / "model-server.lock"


def spawn_lock_path(data_dir: Path) -> Path:
    """Held by a client while it starts a model server, so that racing clients start one."""
    return data_dir / "model-spawn.lock"


def log_path(data_dir: Path) -> Path:
    return data_dir / "model-server.log"


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    header = await reader.readexactly(4)
    size = int.from_bytes(header, "big")
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    message = json.loads(await reader.readexactly(size))
    if not isinstance(message, dict):
        raise ProtocolError("a frame must hold a JSON object")
    return message


def write_frame(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    writer.write(len(data).to_bytes(4, "big") + data)


def pack_vectors(vectors: list[list[float]]) -> dict[str, Any]:
    flat = array.array("f", [x for vector in vectors for x in vector])
    if sys.byteorder != "little":
        flat.byteswap()
    return {
        "vectors": base64.b64encode(flat.tobytes()).decode(),
        "count": len(vectors),
        "dimensions": len(vectors[0]) if vectors else 0,
    }


def unpack_vectors(message: dict[str, Any]) -> list[list[float]]:
    count, dimensions = int(message["count"]), int(message["dimensions"])
    flat = array.array("f")
    flat.frombytes(base64.b64decode(message["vectors"]))
    if sys.byteorder != "little":
        flat.byteswap()
    if len(flat) != count * dimensions:
        raise ProtocolError(f"expected {count}x{dimensions} floats, got {len(flat)}")
    values = flat.tolist()
    return [values[i * dimensions : (i + 1) * dimensions] for i in range(count)]
