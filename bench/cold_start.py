"""Cold start: process start -> first answered `initialize`/`tools/list`, and -> first search answered.

Three starts, each repeated:
  * first-run:   empty data dir (initdb, create database, run migrations, then serve)
  * restart:     data dir exists, PostgreSQL stopped (the usual desktop-client launch)
  * pg-running:  another archon-mcp process already holds the embedded PostgreSQL
Plus the bare cost of starting Python and importing the server, which bounds the rest.

    .venv/bin/python bench/cold_start.py            # 3 repeats, ~2-3 min
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PYTHON,
    SERVE,
    log,
    machine,
    percentiles,
    server_env,
    structured,
    table,
    write_results,
)


async def one_start(data_dir: Path) -> dict[str, float]:
    env = server_env(data_dir, "archon")
    params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)
    t0 = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        t_init = time.perf_counter() - t0
        tools = await client.list_tools()
        t_list = time.perf_counter() - t0
        assert tools.tools, "no tools listed"
        structured(await client.call_tool("archon_search_events", {"query": "database migration", "threshold": 0}))
        t_search = time.perf_counter() - t0
        structured(await client.call_tool("archon_create_session", {"agent": "claude"}))
    return {"initialize_s": t_init, "tools_list_s": t_list, "first_search_s": t_search}


def import_time(src: str | None) -> float:
    code = "import archon_mcp.cli, archon_mcp.server"
    if src:
        code = (
            "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
            f"type(f).__module__ + str(f)]; sys.path.insert(0, {src!r}); " + code
        )
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], check=True, env=server_env(Path("/tmp"), "x"))
    return time.perf_counter() - t0


async def main_async(args: argparse.Namespace) -> dict:
    import os

    src = os.environ.get("ARCHON_BENCH_SRC")
    runs: dict[str, list[dict[str, float]]] = {"first-run": [], "restart": [], "pg-running": []}
    imports = [import_time(src) for _ in range(args.repeats)]
    for i in range(args.repeats):
        data_dir = args.base / f"cold-{i}"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        data_dir.chmod(0o755)
        log(f"repeat {i + 1}/{args.repeats}: first-run")
        runs["first-run"].append(await one_start(data_dir))
        await asyncio.sleep(1.0)  # let the last detach stop PostgreSQL
        log(f"repeat {i + 1}/{args.repeats}: restart")
        runs["restart"].append(await one_start(data_dir))
        await asyncio.sleep(1.0)
        log(f"repeat {i + 1}/{args.repeats}: pg-running")
        holder = subprocess.Popen(  # noqa: ASYNC220 - a one-off spawn
            [
                PYTHON,
                "-c",
                "import sys, time; sys.path.insert(0, 'bench'); import _common; "
                f"_common.admin_url(__import__('pathlib').Path({str(data_dir)!r})); print('up', flush=True); "
                "time.sleep(600)",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        holder.stdout.readline()
        try:
            runs["pg-running"].append(await one_start(data_dir))
        finally:
            holder.terminate()
            holder.wait(30)
        await asyncio.sleep(1.0)
        shutil.rmtree(data_dir, ignore_errors=True)
    summary = {
        case: {k: percentiles([r[k] * 1000 for r in rs]) for k in ("initialize_s", "tools_list_s", "first_search_s")}
        for case, rs in runs.items()
    }
    return {"python_import_s": [round(x, 3) for x in imports], "runs": runs, "summary_ms": summary}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--base", type=Path, default=Path("/tmp/archon-bench-cold"))
    args = p.parse_args()
    args.base.mkdir(parents=True, exist_ok=True)
    args.base.chmod(0o755)
    info = machine()
    result = asyncio.run(main_async(args))
    path = write_results("cold_start", {"machine": info, "args": vars(args), **result})
    rows = []
    for case, s in result["summary_ms"].items():
        rows.append(
            [
                case,
                s["initialize_s"]["p50"] / 1000,
                s["initialize_s"]["max"] / 1000,
                s["tools_list_s"]["p50"] / 1000,
                s["first_search_s"]["p50"] / 1000,
                s["first_search_s"]["max"] / 1000,
            ]
        )
    imp = sorted(result["python_import_s"])
    print(
        table(
            [
                "start",
                "initialize p50 s",
                "initialize max s",
                "tools/list p50 s",
                "first search p50 s",
                "first search max s",
            ],
            [[r[0], *(round(x, 2) for x in r[1:])] for r in rows],
        )
    )
    print(f"\npython start + import archon_mcp.server: median {imp[len(imp) // 2]:.2f} s")
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
