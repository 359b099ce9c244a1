"""A realistic, seeded agent workload: what an agent logs while it works, and what it asks later."""

from __future__ import annotations

import random
from typing import Any

AGENTS = ("claude", "gemini", "gpt")

COMPONENTS = (
    "auth middleware",
    "payment webhook",
    "database migration",
    "search index",
    "CI pipeline",
    "rate limiter",
    "user profile page",
    "email queue",
    "cache layer",
    "GraphQL resolver",
    "Kubernetes deployment",
    "feature flag service",
)
ERRORS = (
    "IntegrityError: duplicate key value violates unique constraint",
    "TimeoutError: upstream did not answer within 30s",
    "KeyError: 'user_id' missing from the request payload",
    "OOMKilled: container exceeded its 512Mi memory limit",
    "ConnectionResetError while streaming the export",
    "TypeError: cannot read properties of undefined (reading 'map')",
    "alembic: Can't locate revision identified by 'a1b2c3'",
    "SSL: CERTIFICATE_VERIFY_FAILED when calling the billing API",
)
DECISIONS = (
    ("use a partial index", "only active rows are queried, keeps the index small"),
    ("retry with exponential backoff", "the provider rate-limits bursts"),
    ("move the job to a background queue", "the request path must stay under 100 ms"),
    ("pin the dependency", "the new minor release changed the default timeout"),
    ("split the migration in two", "the table is large and the lock must be short"),
    ("denormalise the counter", "the dashboard query scanned every row"),
)
QUERIES = (
    "database migration errors",
    "why did we add a retry with backoff",
    "payment webhook failures",
    "memory limit exceeded in the container",
    "decisions about indexes",
    "flaky CI pipeline",
    "authentication bug in the middleware",
    "what did we decide about caching",
    "SSL certificate problems with billing",
    "slow dashboard query",
)


def event(rng: random.Random, step: int) -> tuple[str, dict[str, Any]]:
    """One event of the kind an agent logs: type and event_data."""
    comp = rng.choice(COMPONENTS)
    kind = rng.choices(
        ("task_created", "task_updated", "task_completed", "decision_made", "error_encountered", "context_shared"),
        weights=(3, 2, 3, 2, 2, 1),
    )[0]
    if kind == "task_created":
        data = {
            "title": f"Fix the {comp}",
            "description": f"Step {step}: investigate and repair the {comp}; add a regression test.",
            "priority": rng.choice(("low", "medium", "high")),
        }
    elif kind == "task_updated":
        data = {"title": f"Fix the {comp}", "status": "in_progress", "note": f"reproduced locally at step {step}"}
    elif kind == "task_completed":
        data = {
            "title": f"Fix the {comp}",
            "outcome": "merged",
            "files_changed": [f"src/{comp.replace(' ', '_')}.py", "tests/test_regression.py"],
        }
    elif kind == "decision_made":
        decision, why = rng.choice(DECISIONS)
        data = {"decision": f"{decision} for the {comp}", "rationale": why, "alternatives": ["do nothing"]}
    elif kind == "error_encountered":
        data = {
            "error": rng.choice(ERRORS),
            "component": comp,
            "file": f"src/{comp.replace(' ', '_')}.py",
            "line": rng.randint(10, 900),
        }
    else:
        data = {"context": f"The {comp} is owned by the platform team; see the runbook.", "source": "user"}
    return kind, data


def summary(rng: random.Random) -> str:
    comp = rng.choice(COMPONENTS)
    decision, why = rng.choice(DECISIONS)
    return f"Fixed the {comp}: hit {rng.choice(ERRORS).split(':')[0]}, decided to {decision} because {why}."


def metadata(rng: random.Random) -> dict[str, Any]:
    return {"repo": "acme/shop", "branch": f"fix/{rng.randint(100, 999)}", "client": "bench"}
