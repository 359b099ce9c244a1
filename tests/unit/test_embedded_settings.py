"""The embedded server's settings file: its default size and how it is written (no server)."""

from __future__ import annotations

from pathlib import Path

from archon_mcp.embedded import SETTINGS_FILE, default_shared_buffers_mb, write_settings

GIB = 1 << 30


def test_shared_buffers_default_to_an_eighth_of_memory_within_bounds() -> None:
    assert default_shared_buffers_mb(4 * GIB) == 512
    assert default_shared_buffers_mb(512 * (1 << 20)) == 128  # never below PostgreSQL's default
    assert default_shared_buffers_mb(64 * GIB) == 1024
    assert 128 <= default_shared_buffers_mb() <= 1024  # this machine's


def test_settings_are_written_once_and_included_once(tmp_path: Path) -> None:
    conf = tmp_path / "postgresql.conf"
    conf.write_text("max_connections = 100\n")
    assert write_settings(tmp_path, shared_buffers_mb=512) is True
    assert "shared_buffers = '512MB'" in (tmp_path / SETTINGS_FILE).read_text()
    assert write_settings(tmp_path, shared_buffers_mb=512) is False  # nothing changed
    assert write_settings(tmp_path, shared_buffers_mb=256) is True
    lines = conf.read_text().splitlines()
    assert lines[0] == "max_connections = 100"
    assert lines.count(f"include_if_exists = '{SETTINGS_FILE}'") == 1
    assert "shared_buffers = '256MB'" in (tmp_path / SETTINGS_FILE).read_text()
