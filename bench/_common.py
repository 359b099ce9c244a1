"""Shared helpers for the benchmark scripts: server launch, percentiles, RSS, results files, tables."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# `archon-mcp` through a launcher that honours ARCHON_BENCH_SRC (a frozen source snapshot).
SERVE = [PYTHON, str(ROOT / "bench" / "_serve.py")]
SERVER_MARK = "_serve.py"
# Its own data dir so a benchmark never touches a developer's or the test suite's database.
DEFAULT_DATA_DIR = Path(os.environ.get("ARCHON_BENCH_DATA_DIR", "/tmp/archon-bench"))


def server_env(data_dir: Path, database: str, **extra: str) -> dict[str, str]:
    """Environment for `archon-mcp serve`: the stdio client passes only a minimal one, so give it all."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("ARCHON_") or k == "ARCHON_BENCH_SRC") and k != "OPENAI_API_KEY"
    }
    env.update(
        {
            "ARCHON_DATA_DIR": str(data_dir),
            "ARCHON_DATABASE_NAME": database,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "ARCHON_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def admin_url(data_dir: Path) -> str:
    """Attach to (or start) the embedded PostgreSQL in `data_dir`; a plain asyncpg URL of `postgres`."""
    from archon_mcp.config import Settings
    from archon_mcp.db import _start_embedded

    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    url = _start_embedded(Settings(data_dir=data_dir))
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def db_url(admin: str, name: str) -> str:
    base, _, query = admin.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def asyncpg_kwargs(url: str) -> dict[str, Any]:
    """asyncpg does not parse `?host=/socket/dir` from a URL reliably: split it out."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    kwargs: dict[str, Any] = {
        "user": parts.username or "postgres",
        "database": parts.path.lstrip("/") or "postgres",
    }
    if parts.password:
        kwargs["password"] = parts.password
    kwargs["host"] = query.get("host") or parts.hostname or "localhost"
    if parts.port:
        kwargs["port"] = parts.port
    return kwargs


async def recreate_database(admin: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(**asyncpg_kwargs(admin))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return db_url(admin, name)


def percentiles(samples_ms: Iterable[float]) -> dict[str, float]:
    data = sorted(samples_ms)
    if not data:
        return {"n": 0}

    def pct(p: float) -> float:
        # nearest-rank on the sorted list: no interpolation hides a tail
        k = max(0, min(len(data) - 1, math.ceil(p / 100 * len(data)) - 1))
        return round(data[k], 2)

    return {
        "n": len(data),
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "mean": round(statistics.fmean(data), 2),
        "max": round(data[-1], 2),
    }


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, in MB."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2**20, 1)


def postgres_rss_mb(data_dir: Path) -> float:
    """RSS of the embedded PostgreSQL serving `data_dir` (it is not a child of the server process).
    Shared buffers are counted once per backend by RSS, so this over-states; reported separately."""
    total = 0
    marker = str(data_dir)
    postmaster = None
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if p.info["name"] in ("postgres", "postmaster") and any(marker in c for c in p.info["cmdline"] or []):
                postmaster = p
                break
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    if postmaster is None:
        return 0.0
    for p in [postmaster, *postmaster.children(recursive=True)]:
        try:
            total += p.memory_full_info().uss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return round(total / 2**20, 1)


def child_pids(match: str) -> list[int]:
    """Descendants of this process whose command line contains `match` (the servers we spawned)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if any(match in c for c in p.cmdline()):
                out.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def outermost(pids: list[int]) -> list[int]:
    """Drop pids whose parent is also in the list (a launcher script and its python child)."""
    s = set(pids)
    keep = []
    for pid in pids:
        try:
            if psutil.Process(pid).ppid() not in s:
                keep.append(pid)
        except psutil.NoSuchProcess:
            pass
    return keep


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def structured(result: Any) -> dict[str, Any]:
    """The structured content of a tool result; raises with the server's message on a tool error."""
    if getattr(result, "is_error", False):
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise RuntimeError(f"tool error: {text}")
    return result.structured_content or {}


async def timed(coro: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = await coro
    return (time.perf_counter() - t0) * 1000, out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


__all__ = [
    "DEFAULT_DATA_DIR",
    "SERVE",
    "SERVER_MARK",
    "admin_url",
    "asyncio",
    "child_pids",
    "machine",
    "percentiles",
    "postgres_rss_mb",
    "recreate_database",
    "server_env",
    "structured",
    "table",
    "timed",
    "tree_rss_mb",
    "write_results",
]
