"""LoCoMo retrieval: does search find the turns (events) and sessions that hold each answer?

LoCoMo (Maharana et al., 2024; github.com/snap-research/LoCoMo, `data/locomo10.json`) has 10 long
conversations, 272 sessions, 5,882 turns and 1,986 questions, each labelled with the turns that hold
its answer. It is CC BY-NC 4.0: it is never part of this repository; pass its path with --data.

Each LoCoMo session is loaded through the MCP tools over stdio, the way an agent logs work:
`archon_create_session`, one `archon_add_event(event_type="message", event_data={speaker, text,
dia_id})` per turn, `archon_end_session(summary=<the session summary>)`, into a fresh embedded
database. Once everything is embedded, each question goes to `archon_search_events` and
`archon_search_sessions` (threshold 0, limit 25). recall@k is the share of a question's evidence
turns (or their sessions) among the top k, averaged over questions; MRR uses the first hit.

Splits: tune on the development split only; the test split is for reporting.

    .venv/bin/python bench/locomo.py --data /path/to/locomo10.json --split test --setting both
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_DATA_DIR, SERVE, log, machine, server_env, structured, table, write_results
from mcp import Client, StdioServerParameters

DEV = ("conv-26", "conv-30", "conv-41", "conv-42", "conv-43")
TEST = ("conv-44", "conv-47", "conv-48", "conv-49", "conv-50")
SPLITS = {"dev": DEV, "test": TEST, "all": DEV + TEST}
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
KS = (1, 5, 10, 25)
SHA256 = "79fa87e90f04081343b8c8debecb80a9a6842b76a7aa537dc9fdf651ea698ff4"
_DIA = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")


def normalise_evidence(evidence: list[str]) -> set[str]:
    """`["D8:6; D9:17"]`, `"D:11:26"`, `"D30:05"` -> {"D8:6", "D9:17", "D11:26", "D30:5"}."""
    out = set()
    for item in evidence:
        for a, b in _DIA.findall(str(item)):
            out.add(f"D{int(a)}:{int(b)}")
    return out


def dia_session(dia_id: str) -> int:
    return int(dia_id[1:].split(":", 1)[0])


def load(path: Path, conversations: tuple[str, ...]) -> list[dict[str, Any]]:
    import hashlib

    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        log(f"warning: {path} has sha256 {digest}, not the published {SHA256}")
    data = {c["sample_id"]: c for c in json.loads(raw)}
    return [data[c] for c in conversations]


def sessions_of(conv: dict[str, Any]) -> list[tuple[int, list[dict[str, Any]], str]]:
    """(number, turns, summary) of each session, in order."""
    c = conv["conversation"]
    numbers = sorted(int(k.split("_")[1]) for k in c if re.fullmatch(r"session_\d+", k))
    out = []
    for n in numbers:
        summary = conv.get("session_summary", {}).get(f"session_{n}_summary", "")
        out.append((n, c[f"session_{n}"], summary))
    return out


def questions_of(conv: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for qa in conv["qa"]:
        evidence = normalise_evidence(qa.get("evidence", []))
        if evidence:
            out.append({"question": qa["question"], "category": int(qa["category"]), "evidence": evidence})
    return out


async def ingest(client: Client, conv: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Load one conversation; returns archon session id -> (conversation, session number)."""
    owners: dict[str, tuple[str, int]] = {}
    for number, turns, summary in sessions_of(conv):
        session = structured(await client.call_tool("archon_create_session", {"agent": "user"}))
        sid = session["id"]
        owners[sid] = (conv["sample_id"], number)
        for turn in turns:
            data = {"speaker": turn["speaker"], "text": turn["text"], "dia_id": turn["dia_id"]}
            args = {"session_id": sid, "event_type": "message", "event_data": data}
            structured(await client.call_tool("archon_add_event", args))
        structured(await client.call_tool("archon_end_session", {"session_id": sid, "summary": summary or None}))
    return owners


async def wait_embedded(client: Client, timeout: float = 3600) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        stats = structured(await client.call_tool("archon_get_stats", {}))
        if stats["pending_events"] == 0 and stats["pending_sessions"] == 0:
            return time.perf_counter() - t0
        await asyncio.sleep(2.0)
    raise TimeoutError("the store did not finish embedding")


def score(ranked: list[Any], relevant: set[Any]) -> dict[str, float]:
    out = {f"recall@{k}": len(relevant & set(ranked[:k])) / len(relevant) for k in KS}
    first = next((i for i, item in enumerate(ranked) if item in relevant), None)
    out["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
    return out


async def evaluate(
    client: Client, convs: list[dict[str, Any]], owners: dict[str, tuple[str, int]], limit_questions: int | None
) -> list[dict[str, Any]]:
    rows = []
    for conv in convs:
        name = conv["sample_id"]
        questions = questions_of(conv)[:limit_questions]
        for q in questions:
            args = {"query": q["question"], "limit": max(KS), "threshold": 0.0}
            events = structured(await client.call_tool("archon_search_events", args))["results"]
            sessions = structured(await client.call_tool("archon_search_sessions", args))["results"]
            # A hit must be of the question's own conversation (a turn id repeats across conversations).
            ranked_turns = [(owners.get(e["session_id"], ("?", 0))[0], e["event_data"].get("dia_id")) for e in events]
            ranked_sessions = [owners.get(s["id"], ("?", 0)) for s in sessions]
            rows.append(
                {
                    "conversation": name,
                    "category": q["category"],
                    "events": score(ranked_turns, {(name, d) for d in q["evidence"]}),
                    "sessions": score(ranked_sessions, {(name, dia_session(d)) for d in q["evidence"]}),
                }
            )
    return rows


async def run_store(
    args: argparse.Namespace, convs: list[dict[str, Any]], data_dir: Path, database: str
) -> dict[str, Any]:
    env = server_env(data_dir, database, **dict(kv.split("=", 1) for kv in args.env))
    params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "serve"], env=env)
    async with Client(params, mode="legacy") as client:
        t0 = time.perf_counter()
        owners: dict[str, tuple[str, int]] = {}
        for conv in convs:
            owners.update(await ingest(client, conv))
        ingest_s = time.perf_counter() - t0
        # For bench/locomo_tune.py, which re-ranks the kept store: which session is which.
        (data_dir / f"{database}.owners.json").write_text(json.dumps(owners))
        embed_s = await wait_embedded(client)
        t1 = time.perf_counter()
        rows = await evaluate(client, convs, owners, args.limit_questions)
        query_s = time.perf_counter() - t1
    log(f"  {database}: ingest {ingest_s:.0f} s, embedding {embed_s:.0f} s, {len(rows)} questions {query_s:.0f} s")
    return {"rows": rows, "ingest_s": ingest_s, "embed_s": embed_s, "query_s": query_s}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(target: str, metric: str, subset: list[dict[str, Any]]) -> float:
        return round(statistics.fmean(r[target][metric] for r in subset), 3) if subset else 0.0

    metrics = [f"recall@{k}" for k in KS] + ["mrr"]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[CATEGORIES[r["category"]]].append(r)
    out: dict[str, Any] = {"questions": len(rows)}
    for target in ("events", "sessions"):
        out[target] = {m: mean(target, m, rows) for m in metrics}
        out[f"{target}_by_category"] = {
            name: {"questions": len(g), **{m: mean(target, m, g) for m in metrics}}
            for name, g in sorted(groups.items())
        }
    return out


def per_conversation_mean(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The mean over conversations of each one's own scores (the paper's one-store-per-conversation
    setting), next to the pooled figure over all their questions."""
    metrics = [f"recall@{k}" for k in KS] + ["mrr"]
    return {
        target: {m: round(statistics.fmean(r[target][m] for r in results.values()), 3) for m in metrics}
        for target in ("events", "sessions")
    }


def print_report(name: str, summary: dict[str, Any]) -> None:
    metrics = [f"recall@{k}" for k in KS] + ["mrr"]
    print(f"\n### {name} ({summary.get('questions', '?')} questions)\n")
    print(table(["target", *metrics], [[t, *(summary[t][m] for m in metrics)] for t in ("events", "sessions")]))
    if "events_by_category" in summary:
        cats = summary["events_by_category"]
        rows = [
            [c, cats[c]["questions"], cats[c]["recall@5"], cats[c]["recall@10"], s["recall@5"], s["recall@10"]]
            for c, s in ((c, summary["sessions_by_category"][c]) for c in cats)
        ]
        print()
        print(table(["category", "questions", "events r@5", "events r@10", "sessions r@5", "sessions r@10"], rows))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    names = tuple(args.conversations.split(",")) if args.conversations else SPLITS[args.split]
    convs = load(args.data, names)
    base = args.data_dir
    if base.exists() and not args.keep:
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    results: dict[str, Any] = {"conversations": list(names), "split": args.split}
    if args.setting in ("one-store", "both"):
        log(f"one store: {', '.join(names)}")
        run = await run_store(args, convs, base, "locomo_all")
        results["one_store"] = {**summarise(run["rows"]), **{k: round(v, 1) for k, v in run.items() if k != "rows"}}
        print_report(f"{args.split}: {len(names)} conversations in one store", results["one_store"])
        if args.rows:
            results["one_store"]["rows"] = run["rows"]
    if args.setting in ("per-conversation", "both"):
        per: dict[str, Any] = {}
        for conv in convs:
            log(f"own store: {conv['sample_id']}")
            run = await run_store(args, [conv], base, "locomo_" + conv["sample_id"].replace("-", "_"))
            per[conv["sample_id"]] = summarise(run["rows"])
        results["per_conversation"] = {"mean": per_conversation_mean(per), "conversations": per}
        print_report(
            f"{args.split}: one conversation per store, mean of {len(per)}", results["per_conversation"]["mean"]
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="path to locomo10.json (kept outside the repo)")
    parser.add_argument("--split", choices=sorted(SPLITS), default="dev")
    parser.add_argument("--conversations", help="comma-separated sample ids instead of a split")
    parser.add_argument("--setting", choices=("one-store", "per-conversation", "both"), default="both")
    parser.add_argument("--limit-questions", type=int, default=None, help="first N questions per conversation")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR / "locomo")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server setting, e.g. ARCHON_EMBEDDING_PROVIDER=openai",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir's previous contents")
    parser.add_argument("--rows", action="store_true", help="keep per-question rows in the JSON")
    parser.add_argument("--json", dest="json_name", default=None, help="results name under bench/results/")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json_name:
        path = write_results(
            args.json_name, {"machine": machine(), "args": vars(args) | {"data": "(outside)"}, **results}
        )
        log(f"results: {path}")


if __name__ == "__main__":
    main()
