"""The detached processes (shared server, model process) run this archon_mcp, whatever the working directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from archon_mcp._daemons import spawn_detached


def test_a_daemon_ignores_an_archon_mcp_folder_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "project" / "archon_mcp"  # say, the client runs in a checkout of another version
    decoy.mkdir(parents=True)
    marker = tmp_path / "decoy-ran"
    (decoy / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    (decoy / "__main__.py").write_text("")
    monkeypatch.chdir(decoy.parent)
    out = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = spawn_detached("archon_mcp", ["--version"], env, out)
    assert process.wait(timeout=60) == 0, out.read_text()[-2000:]
    assert not marker.exists(), "the daemon imported archon_mcp from the working directory"
    assert process.args[:3] == [sys.executable, "-P", "-m"]
