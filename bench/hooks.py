"""Latency of one client hook call, as Claude Code makes it: a new `python -m archon_mcp hook claude-code`
process per event, the payload on stdin, with a warm store (the embedded PostgreSQL running and the
hook helper started by an earlier call).

    HF_HUB_OFFLINE=1 python bench/hooks.py --sessions 20

Each simulated session is SessionStart, 3 prompts, 4 edits, a failing and a passing command, a todo
update, 2 reads (not recorded), Stop and SessionEnd: 15 calls. Reported per event and overall
(p50/p95/p99 in ms, nearest rank), next to the bare interpreter start-up (`python -c pass`) and the
import of the service stack the helper spares each call. Results: bench/results/hooks<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RESULTS, machine, percentiles

ROOT = Path(__file__).resolve().parent.parent


def session_payloads(cwd: Path, sid: str) -> list[tuple[str, dict]]:
    base = {"session_id": sid, "transcript_path": f"/tmp/{sid}.jsonl", "cwd": str(cwd), "permission_mode": "default"}

    def tool(name: str, tool_input: dict, response: dict | None = None, event: str = "PostToolUse", **extra) -> dict:
        return {
            **base,
            "hook_event_name": event,
            "tool_name": name,
            "tool_input": tool_input,
            "tool_response": response or {},
            "tool_use_id": "toolu_" + uuid.uuid4().hex[:12],
            **extra,
        }

    out = [("SessionStart", {**base, "hook_event_name": "SessionStart", "source": "startup", "model": "m"})]
    for i in range(3):
        out.append(("UserPromptSubmit", {**base, "hook_event_name": "UserPromptSubmit", "prompt": f"step {i}: fix it"}))
        out.append(("PostToolUse:Edit", tool("Edit", {"file_path": str(cwd / f"src/m{i}.py"), "old_string": "a"})))
    out.append(("PostToolUse:Write", tool("Write", {"file_path": str(cwd / "src/new.py"), "content": "x = 1\n"})))
    out.append(("PostToolUse:Read", tool("Read", {"file_path": str(cwd / "README.md")})))
    out.append(("PostToolUse:Grep", tool("Grep", {"pattern": "TODO"})))
    out.append(
        (
            "PostToolUseFailure:Bash",
            tool(
                "Bash",
                {"command": "pytest -q"},
                event="PostToolUseFailure",
                error="Exit code 1\nFAILED tests/test_x.py::test_y - assert 1 == 2",
                is_interrupt=False,
            ),
        )
    )
    out.append(("PostToolUse:Bash", tool("Bash", {"command": "pytest -q"}, {"stdout": "3 passed", "stderr": ""})))
    todos = [{"content": "Fix the test", "status": "completed"}, {"content": "Write docs", "status": "pending"}]
    out.append(("PostToolUse:TodoWrite", tool("TodoWrite", {"todos": todos}, {"oldTodos": [], "newTodos": todos})))
    out.append(("Stop", {**base, "hook_event_name": "Stop", "stop_hook_active": False}))
    out.append(("SessionEnd", {**base, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"}))
    return out


def call(env: dict[str, str], payload: dict) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "archon_mcp", "hook", "claude-code"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"hook exited {done.returncode}: {done.stderr}")
    return elapsed, done.stdout


def timed(env: dict[str, str], argv: list[str], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--tag", default="")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (default: removed)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="archon-bh-"))
    data_dir.chmod(0o755)
    project = data_dir / "work" / "billing-api"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    env.update(
        {
            "ARCHON_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "ARCHON_HOOK_DAEMON_IDLE_SECONDS": "600",
        }
    )
    from archon_mcp.hooks._client import HookPaths, request

    paths = HookPaths(data_dir)
    info = machine()
    try:
        # Warm-up: the first call initialises the store, starts the helper, migrates; not counted.
        cold_ms, _ = call(env, session_payloads(project, "warmup")[0][1])
        for _name, payload in session_payloads(project, "warmup")[1:]:
            call(env, payload)
        request(paths, {"action": "drain"}, 120)

        by_event: dict[str, list[float]] = defaultdict(list)
        everything: list[float] = []
        context_chars: list[int] = []
        for n in range(args.sessions):
            for name, payload in session_payloads(project, f"bench-{n}"):
                ms, out = call(env, payload)
                by_event[name].append(ms)
                everything.append(ms)
                if name == "SessionStart":
                    context_chars.append(len(out))
        request(paths, {"action": "drain"}, 120)
        status = request(paths, {"action": "status"}, 10) or {}

        baseline = timed(env, [sys.executable, "-c", "pass"], 20)
        full_import = timed(env, [sys.executable, "-c", "import archon_mcp.services.hooks"], 10)
        result = {
            "machine": info,
            "command": f"python bench/hooks.py --sessions {args.sessions}" + (f" --tag {args.tag}" if args.tag else ""),
            "sessions": args.sessions,
            "calls": len(everything),
            "first_call_cold_ms": round(cold_ms, 1),
            "all_calls_ms": percentiles(everything),
            "by_event_ms": {k: percentiles(v) for k, v in sorted(by_event.items())},
            "session_start_output_chars": percentiles(context_chars),
            "python_startup_ms": baseline,
            "import_service_stack_ms": full_import,
            "helper_heavy_modules": status.get("heavy_modules"),
        }
    finally:
        try:
            request(paths, {"action": "shutdown"}, 10)
        except OSError:
            pass
        deadline = time.monotonic() + 30
        while paths.pid.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path = RESULTS / f"hooks{args.tag}.json"
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    overall = result["all_calls_ms"]
    print(f"{result['calls']} hook calls: p50 {overall['p50']} ms, p95 {overall['p95']} ms, p99 {overall['p99']} ms")
    for name, stats in result["by_event_ms"].items():
        print(f"  {name:26s} p50 {stats['p50']:7.1f}  p95 {stats['p95']:7.1f}  max {stats['max']:7.1f}")
    print(f"python -c pass p50 {baseline['p50']} ms; importing the service stack p50 {full_import['p50']} ms")
    print(f"first (cold) call {result['first_call_cold_ms']} ms; results in {out_path}")


if __name__ == "__main__":
    main()
