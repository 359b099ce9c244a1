"""The model server's wire format: vectors survive the trip, frames are bounded, socket paths fit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from archon_mcp.embeddings import _protocol
from archon_mcp.embeddings._protocol import ProtocolError, pack_vectors, socket_path, unpack_vectors


def test_vectors_round_trip_as_float32() -> None:
    vectors = [[0.25, -1.5, 3.0], [1e-7, 0.0, -0.0]]
    back = unpack_vectors(pack_vectors(vectors))
    assert back == [[0.25, -1.5, 3.0], [pytest.approx(1e-7, rel=1e-6), 0.0, -0.0]]


def test_unpack_rejects_a_short_payload() -> None:
    message = pack_vectors([[1.0, 2.0]])
    message["count"] = 2
    with pytest.raises(ProtocolError, match="expected 2x2 floats"):
        unpack_vectors(message)


def test_long_data_dir_gets_a_short_socket_path(tmp_path: Path) -> None:
    short = tmp_path / "d"
    assert socket_path(short) == short / "model.sock"
    deep = tmp_path / ("x" * 120)
    path = socket_path(deep)
    assert len(str(path)) <= 108 and path.name.startswith("archon-model-")
    assert socket_path(deep) == path  # the same data dir always maps to the same socket


async def _frames(data: bytes) -> dict:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await _protocol.read_frame(reader)


def test_frames_are_bounded_and_must_hold_objects() -> None:
    too_big = (_protocol.MAX_FRAME_BYTES + 1).to_bytes(4, "big")
    with pytest.raises(ProtocolError, match="over the"):
        asyncio.run(_frames(too_big))
    with pytest.raises(ProtocolError, match="JSON object"):
        asyncio.run(_frames((2).to_bytes(4, "big") + b"[]"))
    assert asyncio.run(_frames((7).to_bytes(4, "big") + b'{"a":1}')) == {"a": 1}
