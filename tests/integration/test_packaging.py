"""The built wheel carries its migrations and web assets: `archon-mcp db upgrade` works from an
installed package, not only from a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_migrations_and_upgrades_a_database(tmp_path: Path, data_dir: Path, admin_url: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("archon_mcp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for migration in (ROOT / "alembic" / "versions").glob("*.py"):
        assert f"archon_mcp/_alembic/versions/{migration.name}" in names
    assert {"archon_mcp/_alembic/env.py", "archon_mcp/static/index.html", "archon_mcp/py.typed"} <= names
    for init in (ROOT / "archon_mcp").rglob("__init__.py"):  # every subpackage is listed in pyproject.toml
        assert init.relative_to(ROOT).as_posix() in names, f"{init.parent.name} is missing from the wheel"

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    # The installed copy comes first on the path; run from elsewhere so the checkout is not importable.
    env.update(PYTHONPATH=str(target), ARCHON_DATA_DIR=str(data_dir), ARCHON_DATABASE_NAME="archon_wheel")
    where = subprocess.run(
        [sys.executable, "-c", "import archon_mcp.db as d; print(d.migrations_path())"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip() == str(target / "archon_mcp" / "_alembic")
    subprocess.run(
        [sys.executable, "-m", "archon_mcp", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    current = subprocess.run(
        [sys.executable, "-m", "archon_mcp", "db", "current"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    heads = sorted(p.name.split("_", 1)[0] for p in (ROOT / "alembic" / "versions").glob("*.py"))
    assert current.stdout.strip() == heads[-1]
