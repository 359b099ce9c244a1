"""Where the time goes: py-spy samples `archon-mcp serve` while a client drives one workload.

    .venv/bin/pip install py-spy        # once
    .venv/bin/python bench/profile_server.py --mode write    # sequential create/add_event/end
    .venv/bin/python bench/profile_server.py --mode ingest   # 32 add_event calls in flight
    .venv/bin/python bench/profile_server.py --mode search   # idle-store searches

Writes bench/results/profile_<mode>.txt: collapsed stacks (flamegraph input) and a summary of
the share of samples spent in each layer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload
from _common import (
    DEFAULT_DATA_DIR,
    RESULTS,
    SERVE,
    SERVER_MARK,
    admin_url,
    child_pids,
    outermost,
    recreate_database,
    server_env,
    structured,
)

LAYERS = (
    ("embedding model (torch)", ("torch", "sentence_transformers", "transformers", "tokenizers")),
    ("archon repositories (SQL build)", ("archon_mcp/repositories",)),
    ("sqlalchemy", ("sqlalchemy",)),
    ("asyncpg", ("asyncpg",)),
    ("pydantic", ("pydantic",)),
    ("mcp sdk", ("/mcp/",)),
    ("anyio/asyncio", ("anyio", "asyncio")),
    ("archon services/tools", ("archon_mcp/services", "archon_mcp/tools")),
)


def summarize(collapsed: str) -> list[tuple[str, float]]:
    """Share of samples whose innermost known frame belongs to each layer (self time by layer)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        layer = "other (idle/select/json/...)"
        for frame in reversed(frames):
            hit = next((name for name, keys in LAYERS if any(k in frame for k in keys)), None)
            if hit:
                layer = hit
                break
        counts[layer] += int(n)
    return [(k, round(100 * v / max(total, 1), 1)) for k, v in counts.most_common()]


async def drive(mode: str, client: Client, seconds: float) -> int:
    rng = random.Random(1)
    sid = structured(await client.call_tool("archon_create_session", {"agent": "claude"}))["id"]
    deadline = time.perf_counter() + seconds
    calls = 0
    if mode == "ingest":

        async def worker() -> None:
            nonlocal calls
            s = structured(await client.call_tool("archon_create_session", {"agent": "gpt"}))["id"]
            while time.perf_counter() < deadline:
                kind, data = workload.event(rng, calls)
                await client.call_tool("archon_add_event", {"session_id": s, "event_type": kind, "event_data": data})
                calls += 1

        await asyncio.gather(*(worker() for _ in range(32)))
        return calls
    while time.perf_counter() < deadline:
        if mode == "search":
            await client.call_tool("archon_search_events", {"query": rng.choice(workload.QUERIES), "threshold": 0})
        else:
            s = structured(await client.call_tool("archon_create_session", {"agent": "claude"}))["id"]
            for step in range(5):
                kind, data = workload.event(rng, step)
                await client.call_tool("archon_add_event", {"session_id": s, "event_type": kind, "event_data": data})
            await client.call_tool("archon_end_session", {"session_id": s, "summary": workload.summary(rng)})
            calls += 6
            continue
        calls += 1
    del sid
    return calls


async def main_async(args: argparse.Namespace) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    admin = admin_url(args.data_dir)
    await recreate_database(admin, "bench_profile")
    env = server_env(args.data_dir, "bench_profile")
    async with Client(StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)) as client:
        # load the model and put some rows in, so the profile is of the steady state
        await drive("write", client, 3)
        await client.call_tool("archon_search_events", {"query": "warm", "threshold": 0})
        pid = outermost(child_pids(SERVER_MARK))[0]
        RESULTS.mkdir(parents=True, exist_ok=True)
        raw = RESULTS / f"profile_{args.mode}.collapsed"
        spy = subprocess.Popen(  # noqa: ASYNC220 - a one-off spawn
            [
                py_spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(int(args.seconds) + 1),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(raw),
                "--nonblocking",
                "--threads",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)
        calls = await drive(args.mode, client, args.seconds)
        spy.wait(60)
    summary = summarize(raw.read_text() if raw.exists() else "")
    out = RESULTS / f"profile_{args.mode}.txt"
    lines = [f"mode={args.mode} calls={calls} in {args.seconds}s ({calls / args.seconds:.1f}/s)", ""]
    lines += [f"{pct:5.1f}%  {layer}" for layer, pct in summary]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\ncollapsed stacks: {raw}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("write", "ingest", "search"), default="write")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
