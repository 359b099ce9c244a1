"""Retrieval quality of archon-mcp search: recall@5, recall@10 and MRR for semantic, keyword and hybrid.

Seeds the evaluation set (bench/eval/dataset.json: agent sessions with events and summaries, and
queries with their relevant sessions or events) plus the seeded distractor sessions of
bench/eval/distractors.py (on-topic work and near-duplicates that answer no query) into a fresh
database through the service layer, backdates the rows as the dataset says, waits for the
embeddings, then runs every query in every mode.

    .venv/bin/python bench/retrieval_eval.py                  # set + ~3,000 distractor events
    .venv/bin/python bench/retrieval_eval.py --distractors 0  # the 70 sessions alone
    .venv/bin/python bench/retrieval_eval.py --compare        # both, one table each
    .venv/bin/python bench/retrieval_eval.py --json out.json

Ranking metrics use threshold=0.0 (pure ranking); the `recall@10 @0.7` column repeats recall@10
with the default threshold, to show what an agent calling with defaults gets.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

DATASET = Path(__file__).resolve().parent / "eval" / "dataset.json"
sys.path.insert(0, str(DATASET.parent.parent.parent))  # run from a checkout without installing
from archon_mcp import operations  # noqa: E402
from archon_mcp.schemas import (  # noqa: E402
    AddEventRequest,
    CreateSessionRequest,
    EndSessionRequest,
    SearchEventsRequest,
    SearchSessionsRequest,
)

MODES = ("semantic", "keyword", "hybrid")


def load_dataset(path: Path = DATASET) -> dict[str, Any]:
    return json.loads(path.read_text())


def _distractors_module() -> Any:
    name = "archon_eval_distractors"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, DATASET.parent / "distractors.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


DEFAULT_DISTRACTORS: int = _distractors_module().DEFAULT_EVENTS


def with_distractors(dataset: dict[str, Any], n_events: int = DEFAULT_DISTRACTORS) -> dict[str, Any]:
    """The dataset plus about `n_events` distractor events (bench/eval/distractors.py, fixed seed);
    0 gives the dataset itself. Queries and their relevant rows are unchanged."""
    if n_events <= 0:
        return dataset
    return _distractors_module().with_distractors(dataset, n_events)


@dataclass
class Seeded:
    now: datetime
    session_ids: dict[str, str] = field(default_factory=dict)  # dataset key -> uuid
    event_ids: dict[str, str] = field(default_factory=dict)
    project_ids: dict[str, str] = field(default_factory=dict)


async def seed(app: Any, dataset: dict[str, Any]) -> Seeded:
    """Write every session and event through the services, then backdate them with SQL."""
    seeded = Seeded(now=datetime.now(UTC), project_ids=dict(dataset["projects"]))
    times: list[dict[str, Any]] = []
    for spec in dataset["sessions"]:
        project = seeded.project_ids.get(spec.get("project_key") or "")
        session = await operations.create_session(
            app,
            CreateSessionRequest.parse(
                app.settings, agent=spec["agent"], project_id=project, metadata=spec.get("metadata") or {}
            ),
        )
        seeded.session_ids[spec["key"]] = session.id
        started = seeded.now - timedelta(days=spec["days_ago"])
        for i, event in enumerate(spec["events"]):
            out = await operations.add_event(
                app,
                AddEventRequest.parse(
                    app.settings, session_id=session.id, event_type=event["event_type"], event_data=event["event_data"]
                ),
            )
            seeded.event_ids[event["key"]] = out.id
            offset = event.get("minutes_offset", i * 5)
            times.append({"kind": "event", "id": out.id, "at": started + timedelta(minutes=offset)})
        await operations.end_session(
            app, EndSessionRequest.parse(app.settings, session_id=session.id, summary=spec.get("summary"))
        )
        ended = started + timedelta(minutes=spec.get("duration_minutes", 60))
        times.append({"kind": "session", "id": session.id, "at": started, "end": ended})
    # Backdate only once the worker is idle: its batch updates would otherwise take row locks in
    # another order than this transaction and could deadlock with it.
    if not await app.worker.wait_idle(600):
        raise RuntimeError("embeddings did not catch up within 10 minutes")
    async with app.database.engine.begin() as conn:
        for t in times:
            if t["kind"] == "session":
                await conn.execute(
                    text("UPDATE archon_sessions SET started_at = :a, ended_at = :e WHERE id = :id"),
                    {"a": t["at"], "e": t["end"], "id": t["id"]},
                )
            else:
                await conn.execute(
                    text("UPDATE archon_session_events SET timestamp = :a WHERE id = :id"),
                    {"a": t["at"], "id": t["id"]},
                )
    if not await app.worker.wait_idle(600):
        raise RuntimeError("embeddings did not catch up within 10 minutes")
    return seeded


def _filters(query: dict[str, Any], seeded: Seeded) -> dict[str, Any]:
    f = query.get("filters") or {}
    out: dict[str, Any] = {}
    if "since_days_ago" in f:
        out["since"] = (seeded.now - timedelta(days=f["since_days_ago"])).isoformat()
    if "agent" in f:
        out["agent"] = f["agent"]
    if "project_key" in f:
        out["project_id"] = seeded.project_ids[f["project_key"]]
    return out


async def run_query(app: Any, query: dict[str, Any], seeded: Seeded, mode: str, threshold: float) -> list[str]:
    """Dataset keys of the results, best first."""
    filters = _filters(query, seeded)
    if query["target"] == "sessions":
        request = SearchSessionsRequest.parse(
            app.settings, query=query["text"], limit=10, threshold=threshold, mode=mode, **filters
        )
        result = await operations.search_sessions(app, request)
        by_id = {v: k for k, v in seeded.session_ids.items()}
    else:
        request = SearchEventsRequest.parse(
            app.settings, query=query["text"], limit=10, threshold=threshold, mode=mode, **filters
        )
        result = await operations.search_events(app, request)
        by_id = {v: k for k, v in seeded.event_ids.items()}
    return [by_id.get(hit.id, hit.id) for hit in result.results]


def score(ranked: list[str], relevant: list[str]) -> dict[str, float]:
    wanted = set(relevant)
    rr = next((1.0 / (i + 1) for i, key in enumerate(ranked) if key in wanted), 0.0)
    return {
        "recall@5": len(wanted & set(ranked[:5])) / len(wanted),
        "recall@10": len(wanted & set(ranked[:10])) / len(wanted),
        "mrr": rr,
    }


async def evaluate(
    app: Any,
    dataset: dict[str, Any],
    seeded: Seeded,
    queries: list[dict[str, Any]] | None = None,
    modes: tuple[str, ...] = MODES,
) -> dict[str, Any]:
    """Per (target, mode): mean recall@5, recall@10, MRR at threshold 0; recall@10 at the default
    threshold 0.7; and the share of queries that get no result at all at 0.7. Also, for the JSON
    report, every query's scores and the hybrid queries that miss a relevant row in their top 10,
    with their top 5 (rows of a distractor session, see bench/eval/distractors.py, marked `*`)."""
    queries = queries if queries is not None else dataset["queries"]
    distractor = {s["key"] for s in dataset["sessions"] if s.get("distractor")}
    distractor |= {e["key"] for s in dataset["sessions"] if s.get("distractor") for e in s["events"]}
    per: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    per_kind: dict[tuple[str, str], list[float]] = defaultdict(list)
    misses: list[dict[str, Any]] = []
    per_query: list[dict[str, Any]] = []
    for query in queries:
        for mode in modes:
            ranked = await run_query(app, query, seeded, mode, 0.0)
            at_default = await run_query(app, query, seeded, mode, 0.7)
            s = score(ranked, query["relevant"])
            s["recall@10@0.7"] = score(at_default, query["relevant"])["recall@10"]
            s["empty@0.7"] = float(not at_default)
            per[(query["target"], mode)].append(s)
            per_kind[(query["kind"], mode)].append(s["recall@10"])
            per_query.append({"id": query["id"], "mode": mode} | {k: round(v, 3) for k, v in s.items()})
            if mode == "hybrid" and s["recall@10"] < 1:
                top = [f"*{key}" if key in distractor else key for key in ranked[:5]]
                misses.append({"id": query["id"], "text": query["text"], "recall@10": s["recall@10"], "top5": top})
    table = {
        f"{target}/{mode}": {metric: round(statistics.fmean(x[metric] for x in rows), 3) for metric in rows[0]}
        | {"queries": len(rows)}
        for (target, mode), rows in sorted(per.items())
    }
    kinds = {f"{kind}/{mode}": round(statistics.fmean(v), 3) for (kind, mode), v in sorted(per_kind.items())}
    return {"overall": table, "recall@10_by_kind": kinds, "hybrid_misses": misses, "per_query": per_query}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| target | mode | queries | recall@5 | recall@10 | MRR | recall@10 @0.7 | no result @0.7 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, m in report["overall"].items():
        target, mode = key.split("/")
        lines.append(
            f"| {target} | {mode} | {m['queries']} | {m['recall@5']:.3f} | {m['recall@10']:.3f} "
            f"| {m['mrr']:.3f} | {m['recall@10@0.7']:.3f} | {m['empty@0.7']:.1%} |"
        )
    lines += ["", "| query kind | semantic | keyword | hybrid |", "|---|---|---|---|"]
    kinds = sorted({k.split("/")[0] for k in report["recall@10_by_kind"]})
    for kind in kinds:
        row = [f"{report['recall@10_by_kind'].get(f'{kind}/{m}', 0):.3f}" for m in MODES]
        lines.append(f"| {kind} | " + " | ".join(row) + " |")
    return "\n".join(lines)


async def run(data_dir: Path, n_distractors: int) -> dict[str, Any]:
    """Seed the set with `n_distractors` distractor events into a fresh database and evaluate it."""
    from archon_mcp.app import open_app
    from archon_mcp.config import Settings

    name = f"eval_{int(time.time())}_{n_distractors}"
    settings = Settings(data_dir=data_dir, database_name=name, search_wait_for_pending=0)
    dataset = with_distractors(load_dataset(), n_distractors)
    async with open_app(settings) as app:
        started = time.perf_counter()
        seeded = await seed(app, dataset)
        seconds = time.perf_counter() - started
        print(
            f"seeded {len(seeded.session_ids)} sessions, {len(seeded.event_ids)} events in {seconds:.1f}s",
            file=sys.stderr,
        )
        started = time.perf_counter()
        report = await evaluate(app, dataset, seeded)
        print(f"evaluated in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    report["model"] = settings.resolved_embedding_model
    report["set"] = {
        "sessions": len(seeded.session_ids),
        "events": len(seeded.event_ids),
        "distractor_sessions": len(dataset["sessions"]) - len(load_dataset()["sessions"]),
        "distractor_events_requested": max(n_distractors, 0),
    }
    return report


def heading(report: dict[str, Any]) -> str:
    s = report["set"]
    return f"{s['sessions']} sessions, {s['events']} events ({s['distractor_sessions']} distractor sessions)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--data-dir", type=Path, help="embedded PostgreSQL folder (default: a new temp dir)")
    parser.add_argument(
        "--distractors",
        type=int,
        default=DEFAULT_DISTRACTORS,
        metavar="N",
        help=f"about N distractor events besides the set (default {DEFAULT_DISTRACTORS}; 0: the set alone)",
    )
    parser.add_argument(
        "--compare", action="store_true", help="before/after: run with --distractors 0, then with N; print both"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="archon-eval-"))
    data_dir.chmod(0o755)
    if not args.compare:
        report = await run(data_dir, args.distractors)
        print(markdown(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        return
    before = await run(data_dir, 0)
    after = await run(data_dir, args.distractors)
    for label, report in (("Before", before), ("After", after)):
        print(f"### {label}: {heading(report)}\n\n{markdown(report)}\n")
    if args.json:
        args.json.write_text(json.dumps({"before": before, "after": after}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
