"""Choose the fusion weights of hybrid search on the LoCoMo development split (never the test split).

Works on a store that `bench/locomo.py --split dev --setting one-store` left behind: every question's
candidates are collected once through the search service (the same SQL as the tools), then re-ranked
in-process for each weight setting of services/_ranking.py. Prints the best settings by events
recall@10 + sessions recall@5.

    .venv/bin/python bench/locomo.py --data locomo10.json --split dev --setting one-store --data-dir /tmp/dev
    .venv/bin/python bench/locomo_tune.py --data locomo10.json --data-dir /tmp/dev
    .venv/bin/python bench/locomo_tune.py --data locomo10.json --data-dir /tmp/dev --grid far  # bonus x far neighbours
    .venv/bin/python bench/locomo_tune.py --data locomo10.json --data-dir /tmp/dev --grid named  # named-value bonus
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from locomo import DEV, dia_session, load, questions_of, score

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


async def collect(args: argparse.Namespace):
    from sqlalchemy import text

    from archon_mcp.config import Settings
    from archon_mcp.db import Database
    from archon_mcp.embeddings import create_embedder
    from archon_mcp.services.search import SearchService

    embedder = None
    owners: dict[str, tuple[str, int]] = {}
    dia_ids: dict = {}  # event id -> LoCoMo turn id (candidates are light rows: no event_data)
    pools = []
    for name in args.database.split(","):
        # locomo_all holds the whole split; locomo_conv_26 one conversation (bench/locomo.py's names)
        convs = DEV if name == "locomo_all" else ("conv-" + name.rsplit("_", 1)[1],)
        settings = Settings(data_dir=args.data_dir, database_name=name, search_wait_for_pending=0)
        database = Database(settings)
        await database.start(migrate=False)
        embedder = embedder or create_embedder(settings)
        service = SearchService(database, embedder, None, settings)
        owned = json.loads((args.data_dir / f"{name}.owners.json").read_text())
        owners.update({k: tuple(v) for k, v in owned.items()})
        async with database.connect() as conn:
            rows = await conn.execute(text("SELECT id, event_data->>'dia_id' FROM archon_session_events"))
            dia_ids.update(rows.all())
        for conv in load(args.data, convs):
            for q in questions_of(conv)[: args.limit_questions]:
                events = await service.collect_events(query=q["question"], limit=25, threshold=0.0)
                sessions = await service.collect_sessions(query=q["question"], limit=25, threshold=0.0)
                pools.append((conv["sample_id"], q, events, sessions))
        await database.close()
    return service, owners, pools, dia_ids


def evaluate(service, owners, pools, dia_ids, weights) -> dict[str, float]:
    ev5, ev10, se5, se10 = [], [], [], []
    for name, q, events, sessions in pools:
        ranked = [(owners.get(str(h.row.session_id), ("?", 0))[0], dia_ids.get(h.row.id)) for h in
                  service.rank_events(events, weights)]  # fmt: skip
        e = score(ranked, {(name, d) for d in q["evidence"]})
        ranked_s = [owners.get(str(h.row.id), ("?", 0)) for h in service.rank_sessions(sessions, weights)]
        s = score(ranked_s, {(name, dia_session(d)) for d in q["evidence"]})
        ev5.append(e["recall@5"])
        ev10.append(e["recall@10"])
        se5.append(s["recall@5"])
        se10.append(s["recall@10"])
    mean = statistics.fmean
    return {"events@5": mean(ev5), "events@10": mean(ev10), "sessions@5": mean(se5), "sessions@10": mean(se10)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database", default="locomo_all", help="comma-separated: stores pooled")
    parser.add_argument("--limit-questions", type=int, default=None)
    parser.add_argument("--bm25", help="k1,b,context_weight to collect with instead of the defaults")
    parser.add_argument("--budget", type=int, help="BM25 candidates per query to collect with (default: the server's)")
    grids = ("full", "small", "mid", "rrf", "neighbour", "far", "named", "chosen")
    parser.add_argument("--grid", choices=grids, default="full")
    parser.add_argument("--json", type=Path, help="write every setting's numbers here")
    args = parser.parse_args()
    from archon_mcp.repositories import search as repo
    from archon_mcp.services._ranking import DEFAULT_WEIGHTS, Weights

    if args.bm25:
        repo.BM25_K1, repo.BM25_B, repo.CONTEXT_WEIGHT = (float(x) for x in args.bm25.split(","))
    if args.budget:
        repo.CANDIDATE_BUDGET = args.budget
    service, owners, pools, dia_ids = asyncio.run(collect(args))
    if args.grid == "full":
        grid = itertools.product(
            (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0), (0.0, 0.1, 0.2, 0.3, 0.5, 0.8), (0.0, 0.25, 0.5, 1.0, 2.0)
        )
    elif args.grid == "mid":
        grid = itertools.product((0.4, 0.5, 0.6, 0.7, 0.8), (0.3, 0.5, 0.8, 1.2), (0.5, 1.0))
    elif args.grid == "rrf":
        grid = [(w, s, e, k) for k in (10, 30, 60) for w in (0.3, 0.5, 0.7) for s in (0.0, 0.5) for e in (0.0, 1.0)]
    elif args.grid == "neighbour":  # the neighbours' share, around the chosen weights
        d = DEFAULT_WEIGHTS
        grid = [(d.keyword, d.session, d.events, 0.0, n) for n in (0.0, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)]
    elif args.grid == "far":  # the all-terms bonus and the far neighbours' share, the rest as chosen
        d = DEFAULT_WEIGHTS
        grid = [
            (d.keyword, d.session, d.events, 0.0, d.neighbour, bonus, far)
            for bonus in (0.0, 0.05, 0.1, 0.2)
            for far in (0.0, 0.6, 0.8, 0.9, 1.0)
        ]
    elif args.grid == "named":  # the named-value bonus, the rest as chosen
        d = DEFAULT_WEIGHTS
        grid = [
            (d.keyword, d.session, d.events, 0.0, d.neighbour, d.all_terms, d.far_neighbour, named)
            for named in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
        ]
    elif args.grid == "chosen":  # the server's weights alone (e.g. to compare --budget or --bm25 values)
        d = DEFAULT_WEIGHTS
        grid = [(d.keyword, d.session, d.events)]
    else:
        d = DEFAULT_WEIGHTS
        grid = {(d.keyword, d.session, d.events), (0.0, d.session, d.events), (1.0, d.session, d.events),
                (d.keyword, 0.0, d.events), (d.keyword, d.session, 0.0)}  # fmt: skip
    results = []
    for keyword, session, events, *more in grid:
        d = DEFAULT_WEIGHTS
        defaults = (0.0, d.neighbour, d.all_terms, d.far_neighbour, d.named_value)
        rrf, neighbour, bonus, far, named = [*more, *defaults[len(more) :]]
        weights = Weights(
            keyword=keyword,
            session=session,
            events=events,
            rrf_k=rrf,
            neighbour=neighbour,
            all_terms=bonus,
            far_neighbour=far,
            named_value=named,
        )
        results.append((weights, evaluate(service, owners, pools, dia_ids, weights)))
    results.sort(key=lambda r: r[1]["events@10"] + r[1]["sessions@5"], reverse=True)
    for weights, m in results[:15]:
        print(weights, {k: round(v, 3) for k, v in m.items()})
    best_events = max(results, key=lambda r: r[1]["events@10"])
    best_sessions = max(results, key=lambda r: r[1]["sessions@5"])
    print("best events@10:", best_events)
    print("best sessions@5:", best_sessions)
    if args.json:
        rows = [{"weights": vars(w), **{k: round(v, 4) for k, v in m.items()}} for w, m in results]
        args.json.write_text(
            json.dumps({"bm25": args.bm25, "budget": args.budget, "questions": len(pools), "results": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
