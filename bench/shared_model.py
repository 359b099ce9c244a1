"""One data dir, several stdio clients (issue 16): resident memory of every archon process once each
of 4 clients has run a search, and a fifth client's first search while the model is warm.

Each variant gets a fresh data dir; the 4 clients start together (as a desktop app and IDE windows
do at login). Counted: each `serve` process tree, the shared server (archon_mcp.hub) and the shared
model process when there are any, and the embedded PostgreSQL (USS of its processes: shared buffers
counted once). Variants: "before" is the source tree given with --before; "model-server" is --after
with ARCHON_SHARED_SERVER=false (each serve runs the whole server, the model process is shared);
"shared-server" is --after as installed (each stdio serve relays to one shared server). `archon-mcp
serve` runs from each tree through bench/_serve.py; the variants run in turn, --rounds times.

    git -C /work/main archive HEAD | (mkdir -p /tmp/archon-main && tar -x -C /tmp/archon-main)
    .venv/bin/python bench/shared_model.py --before /work/before --after /tmp/archon-main     # ~6 min
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SERVE, log, machine, postgres_rss_mb, server_env, structured, table, write_results

CLIENTS = 4
# (first search answered, initialize answered: seconds from spawn; a second search's own seconds)
Timing = tuple[float, float, float]


def running(module: str, data_dir: Path) -> list[psutil.Process]:
    """The `python -m module` processes of this data dir (named in one of their arguments)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if module in cmdline and any(str(data_dir) in part for part in cmdline):
            found.append(process)
    return found


def rss_mb(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return round(total / 2**20, 1)


def serve_processes(before: set[int]) -> list[psutil.Process]:
    out = []
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.pid not in before and any("_serve.py" in part for part in process.cmdline()):
                out.append(process)
    return out


async def client_task(params: StdioServerParameters, searched: asyncio.Queue, leave: asyncio.Event) -> None:
    """One client: connects, runs a search (time from spawn to its answer goes on `searched`),
    stays attached until `leave` is set. Its own task: a client's context is entered and exited there."""
    t0 = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        initialized = time.perf_counter() - t0
        structured(await client.call_tool("archon_search_events", {"query": "database migration", "threshold": 0}))
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        structured(await client.call_tool("archon_search_events", {"query": "release checklist", "threshold": 0}))
        await searched.put((first, initialized, time.perf_counter() - t1))
        await leave.wait()


async def clients(params: StdioServerParameters, n: int, leave: asyncio.Event) -> tuple[list, list[Timing]]:
    searched: asyncio.Queue = asyncio.Queue()
    tasks = [asyncio.create_task(client_task(params, searched, leave)) for _ in range(n)]
    times: list[Timing] = []
    for _ in range(n):
        getter = asyncio.create_task(searched.get())
        done, _ = await asyncio.wait([getter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            for task in done:
                task.result()  # a client failed: raise its error
        times.append(getter.result())
    return tasks, times


def python_start() -> float:
    """What a thin stdio relay would pay before its first byte: Python with socket + asyncio + json."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import asyncio, json, socket"], check=True)
    return round(time.perf_counter() - t0, 3)


def fresh_dir(data_dir: Path) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    data_dir.chmod(0o755)


async def variant(name: str, src: Path, data_dir: Path, extra: dict[str, str]) -> dict:
    fresh_dir(data_dir)
    env = {**server_env(data_dir, "archon"), "ARCHON_BENCH_SRC": str(src), **extra}
    params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    # A first client creates the database and runs the migrations, as on any first start; it then
    # leaves, so the 4 measured clients start on an existing store (the usual case).
    leave = asyncio.Event()
    leave.set()
    first, _ = await clients(params, 1, leave)
    await asyncio.gather(*first)
    await asyncio.sleep(1.5)
    leave = asyncio.Event()
    tasks, times = await clients(params, CLIENTS, leave)
    try:
        await asyncio.sleep(2.0)  # let background work (model load, warm-up) settle
        serves = serve_processes(before)
        models = running("archon_mcp.embeddings._model_server", data_dir)
        shared = running("archon_mcp.hub", data_dir)
        # A serve's children, less the shared processes (counted once, on their own).
        apart = {p.pid for p in models + shared}
        trees = [p for s in serves for p in [s, *s.children(recursive=True)] if p.pid not in apart]
        row = {
            "variant": name,
            "first_search_s": [round(t, 2) for t, *_ in times],
            "serve_processes": len(serves),
            "serves_rss_mb": rss_mb(trees),
            "shared_server_rss_mb": rss_mb(shared),
            "model_server_rss_mb": rss_mb(models),
            "postgres_uss_mb": postgres_rss_mb(data_dir / "pgdata"),
        }
        fifth, (fifth_time,) = await clients(params, 1, leave)
        tasks += fifth
        row["fifth_client_first_search_s"] = round(fifth_time[0], 3)
        row["fifth_client_initialize_s"] = round(fifth_time[1], 3)
        row["fifth_client_second_search_s"] = round(fifth_time[2], 3)
    finally:
        leave.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    row["python_start_s"] = await asyncio.to_thread(python_start)
    parts = ("serves_rss_mb", "shared_server_rss_mb", "model_server_rss_mb", "postgres_uss_mb")
    row["total_mb"] = round(sum(row[part] for part in parts), 1)
    log(f"{name}: {row}")
    await asyncio.sleep(1.0)
    return row


async def main_async(args: argparse.Namespace) -> list[dict]:
    rows = []
    for i in range(args.rounds):
        for name, src, extra in (
            ("before", args.before, {}),
            ("model-server", args.after, {"ARCHON_SHARED_SERVER": "false"}),
            ("shared-server", args.after, {}),
        ):
            rows.append({"round": i + 1, **await variant(name, src.resolve(), args.base / f"{name}-{i}", extra)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, required=True, help="source tree of the code before (e.g. main)")
    p.add_argument("--after", type=Path, required=True, help="source tree of the code after")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--base", type=Path, default=Path("/tmp/archon-bench-shared"))
    args = p.parse_args()
    args.base.mkdir(parents=True, exist_ok=True)
    args.base.chmod(0o755)
    info = machine()
    rows = asyncio.run(main_async(args))
    path = write_results("shared_model", {"machine": info, "args": vars(args), "rows": rows})
    print(
        table(
            [
                "round",
                "variant",
                "serves RSS MB",
                "shared server RSS MB",
                "model process RSS MB",
                "PostgreSQL USS MB",
                "total MB",
                "4 clients' first search s",
                "5th client: initialize s",
                "5th client: first search s",
                "5th client: next search s",
                "bare Python start s",
            ],
            [
                [
                    r["round"],
                    r["variant"],
                    r["serves_rss_mb"],
                    r["shared_server_rss_mb"],
                    r["model_server_rss_mb"],
                    r["postgres_uss_mb"],
                    r["total_mb"],
                    " / ".join(map(str, r["first_search_s"])),
                    r["fifth_client_initialize_s"],
                    r["fifth_client_first_search_s"],
                    r["fifth_client_second_search_s"],
                    r["python_start_s"],
                ]
                for r in rows
            ],
        )
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
