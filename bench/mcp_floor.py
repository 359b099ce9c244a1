"""The floor under every archon tool call: the MCP Python SDK itself, with a tool that does nothing.

A one-tool `MCPServer` over stdio (no database, no model) is called by the SDK's `Client`, one call
at a time and with 32 in flight, and by a bare JSON-RPC client on asyncio pipes (what the SDK
client costs). archon's own latencies (`load.py`) are read against these numbers.

    .venv/bin/python bench/mcp_floor.py          # ~1 min; writes bench/results/mcp_floor.json
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, percentiles, table, write_results

SERVER = """
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("floor")

@mcp.tool()
def ping(n: int = 0) -> dict:
    return {"n": n}

mcp.run("stdio")
"""
CALLS = 1000
WARMUP = 50


async def sdk_client() -> dict[str, dict[str, float]]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-c", SERVER], env=dict(os.environ))
    out: dict[str, dict[str, float]] = {}
    async with Client(params) as client:
        for i in range(WARMUP):
            await client.call_tool("ping", {"n": i})
        samples = []
        for i in range(CALLS):
            t0 = time.perf_counter()
            await client.call_tool("ping", {"n": i})
            samples.append((time.perf_counter() - t0) * 1000)
        out["SDK client, 1 in flight"] = percentiles(samples)
        t0 = time.perf_counter()
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with gate:
                await client.call_tool("ping", {"n": i})

        await asyncio.gather(*(one(i) for i in range(CALLS * 2)))
        out["SDK client, 32 in flight"] = {"calls_per_s": round(CALLS * 2 / (time.perf_counter() - t0), 1)}
    return out


async def raw_client() -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def rpc(request_id: int, method: str, params: dict) -> dict:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        proc.stdin.write((json.dumps(message) + "\n").encode())
        await proc.stdin.drain()
        while True:
            answer = json.loads(await proc.stdout.readline())
            if answer.get("id") == request_id:
                return answer

    info = {"name": "raw", "version": "0"}
    await rpc(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": info})
    proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    samples = []
    for i in range(1, CALLS + WARMUP + 1):
        t0 = time.perf_counter()
        await rpc(i, "tools/call", {"name": "ping", "arguments": {"n": i}})
        if i > WARMUP:
            samples.append((time.perf_counter() - t0) * 1000)
    proc.stdin.close()
    await proc.wait()
    return percentiles(samples)


async def main() -> None:
    load = os.getloadavg()
    results = await sdk_client()
    results["bare JSON-RPC client, 1 in flight"] = await raw_client()
    rows = [
        [name, r.get("p50", "-"), r.get("p95", "-"), r.get("p99", "-"), r.get("calls_per_s", "-")]
        for name, r in results.items()
    ]
    print(table(["no-op tool over stdio", "p50 ms", "p95 ms", "p99 ms", "calls/s"], rows))
    path = write_results("mcp_floor", {"machine": machine(), "load_at_start": load, "results": results})
    print(f"\nwritten: {path}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
