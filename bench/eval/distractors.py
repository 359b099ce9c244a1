# ruff: noqa: E501  (the templates below are prose; wrapping them would not make them clearer)
"""Distractor agent sessions for bench/eval: rows that are on topic but never an answer.

`bench/eval/dataset.json` alone is saturated (hybrid recall@10 near 1.0): with 70 sessions the
relevant one is almost always in the top ten whatever the ranking does. This module adds, at run
time and from a fixed seed, a few thousand realistic events in a few hundred sessions of the same
shape, in two kinds:

- background work on the same projects and with the same vocabulary (migrations, Kubernetes,
  deploys, auth, caching, CI, billing, frontend, data pipelines, docs, mobile, observability);
- near-duplicates: for about half of the dataset's sessions, a sibling on the same topic with other
  specifics (another exception class, other revision, ticket, file and service names, other numbers,
  another outcome), confusable with it but not an answer to its queries.

A distractor must never be relevant to a query, so:

- it never carries an exact identifier of a query or of its relevant rows: `banned_tokens()`
  collects the identifier-like tokens (with a digit, a dot, an underscore, a dash or CamelCase) of
  every query and of the relevant events and sessions, random values are drawn again until they
  avoid them, and `check_no_leaks()` raises if any distractor text still holds one;
- it stays out of the windows of the time-scoped queries it would answer: a distractor passing a
  time-scoped query's agent/project filters is placed before that query's `since`; for queries
  filtered by time alone, only distractors of the query's topic are kept out (`SINCE_ONLY_TOPICS`);
- the templates leave out whole topics that a topical query enumerates ("what terraform issues have
  we run into", "have we ever had to roll back a production release", "which services had memory
  problems"...): no distractor is about terraform, rollbacks, out-of-memory, double charges,
  Stripe, connection pooling, Redis configuration, Safari layout, Playwright flakiness, CI build
  speed, hand-offs of any kind, or anything else a topical query of the set asks to list.

Start times: half the background sessions get a random time their topic, agent and project allow,
the other half a time drawn like the dataset's own (mostly the last two weeks) and then a topic,
agent and project that time allows. Every agent/project-filtered time-scoped query of the set is
broad ("what did claude work on in the last two days"), so the last week can only hold distractors
no such query covers (observability, CI and caching work of claude and gemini on auth_service or
no project).

    from distractors import with_distractors
    dataset = with_distractors(load_dataset())          # default: about 3,000 events
    python bench/eval/distractors.py                    # stats and the leak check
"""

from __future__ import annotations

import copy
import random
import re
import string
from collections.abc import Iterable, Iterator
from typing import Any

DEFAULT_EVENTS = 3000
SEED = 20261201
AGENTS = ("claude", "gemini", "gpt", "user")
MAX_DAYS = 59.9
# A session's events are up to 3 hours after its start; keep a distractor this far (in days) before
# a window it must stay out of.
WINDOW_MARGIN = 0.25
# Time-scoped queries filtered by time only: the distractor topics that would answer them. A
# time-scoped query with an agent or project filter keeps every distractor passing that filter out
# of its window; one with only `since` and no entry here keeps every distractor out.
SINCE_ONLY_TOPICS: dict[str, set[str]] = {
    "q170": {"k8s"},
    "q175": {"security"},
    "q178": {"search"},
    "q186": {"terraform"},
    "q187": {"benchmark"},
    "q189": {"handoff"},
    "q191": {"alembic"},
    "q195": {"kafka"},
    "q196": {"tls"},
}
# Domain words that have the shape of an identifier but name no single answer (products, statuses,
# event types): distractors may use them although a relevant row does.
COMMON = {
    "postgresql",
    "github",
    "ios",
    "macos",
    "javascript",
    "typescript",
    "sqlalchemy",
    "fastapi",
    "graphql",
    "openai",
    "next.js",
    "node.js",
    "in_progress",
    "task_id",
    "task_created",
    "task_updated",
    "task_completed",
    "decision_made",
    "error_encountered",
    "context_shared",
    "e.g",
    "i.e",
    "pytest",
    "jsonb",
    "json",
    "http",
    "https",
    "sha-256",
    "pgvector",
    "kubectl",
    "ci",
    "api",
    "ui",
    "url",
    "grpc",
    "created_at",
    "in_review",
    "key_events",
    "next_steps",
}


class LeakError(AssertionError):
    """A distractor carries an identifier of a query or of a relevant row, or sits in a window."""


# --- identifiers -------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/:#@+=]*[A-Za-z0-9]|[A-Za-z0-9]")
_PART_SPLIT = re.compile(r"[/:@=]")
_ATOM_SPLIT = re.compile(r"[-_.#+]")
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")


def _identifier_like(tok: str, min_number_digits: int) -> bool:
    if tok.isdigit():
        return len(tok) >= min_number_digits
    return bool(
        any(c.isdigit() for c in tok) or _ATOM_SPLIT.search(tok) or _PART_SPLIT.search(tok) or _CAMEL.search(tok)
    )


def _pieces(text: str) -> Iterator[str]:
    """Every token, the parts between its separators, and the atoms of each part."""
    for tok in _TOKEN.findall(text):
        yield tok
        for part in _PART_SPLIT.split(tok):
            if not part:
                continue
            yield part
            stem, dot, ext = part.rpartition(".")
            if dot and stem and ext.isalpha() and ext.islower() and len(ext) <= 4 and "/" not in ext:
                yield stem  # `session_service` from `session_service.py`
            yield from (a for a in _ATOM_SPLIT.split(part) if a)


def identifier_tokens(text: str, min_number_digits: int = 3) -> set[str]:
    """Lower-cased identifier-like pieces of `text` (pure numbers only from that many digits)."""
    return {p.lower() for p in _pieces(text) if _identifier_like(p, min_number_digits) and p.lower() not in COMMON}


def _strings(value: Any, keys: bool = False) -> Iterator[str]:
    """The strings inside a JSON value; with `keys`, its object keys too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if keys:
                yield str(k)
            yield from _strings(v, keys)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v, keys)
    elif value is not None:
        yield str(value)


def banned_tokens(dataset: dict[str, Any]) -> set[str]:
    """Identifier-like tokens of every query text (numbers from two digits) and of every relevant
    event and session (its summary, metadata and events; numbers from three digits)."""
    sessions = {s["key"]: s for s in dataset["sessions"]}
    events = {e["key"]: e for s in dataset["sessions"] for e in s["events"]}
    banned: set[str] = set()
    for query in dataset["queries"]:
        banned |= identifier_tokens(query["text"], min_number_digits=2)
        for key in query["relevant"]:
            if key in events:
                banned |= {t for s in _strings(events[key]["event_data"]) for t in identifier_tokens(s)}
            else:
                spec = sessions[key]
                texts = [spec.get("summary") or "", *_strings(spec.get("metadata"))]
                texts += [t for e in spec["events"] for t in _strings(e["event_data"])]
                banned |= {t for s in texts for t in identifier_tokens(s)}
    return banned


def _session_texts(spec: dict[str, Any]) -> Iterator[str]:
    yield spec.get("summary") or ""
    yield from _strings(spec.get("metadata"), keys=True)
    for event in spec["events"]:
        yield event["event_type"]
        yield from _strings(event["event_data"], keys=True)


# --- time windows ------------------------------------------------------------------------------


def _window_rules(dataset: dict[str, Any]) -> list[tuple[str, float, str | None, str | None, set[str] | None]]:
    """(query id, since days, agent, project key, topics kept out or None for all) per time-scoped query."""
    rules = []
    for q in dataset["queries"]:
        f = q.get("filters") or {}
        if "since_days_ago" not in f:
            continue
        agent, project = f.get("agent"), f.get("project_key")
        topics = SINCE_ONLY_TOPICS.get(q["id"]) if agent is None and project is None else None
        rules.append((q["id"], float(f["since_days_ago"]), agent, project, topics))
    return rules


def _window_violation(spec: dict[str, Any], rules: list) -> str | None:
    tags = set(spec.get("topics") or ())
    for qid, since, agent, project, topics in rules:
        if spec["days_ago"] >= since + WINDOW_MARGIN:
            continue
        if agent is not None and spec["agent"] != agent:
            continue
        if project is not None and spec.get("project_key") != project:
            continue
        if topics is None or tags & topics:
            return qid
    return None


def check_no_leaks(dataset: dict[str, Any], distractors: list[dict[str, Any]]) -> None:
    """Raise LeakError if a distractor holds a banned identifier, sits in the window of a time-scoped
    query it would answer, or reuses a dataset key."""
    banned = banned_tokens(dataset)
    rules = _window_rules(dataset)
    keys = {s["key"] for s in dataset["sessions"]} | {e["key"] for s in dataset["sessions"] for e in s["events"]}
    problems: list[str] = []
    for spec in distractors:
        leaked = {t for text in _session_texts(spec) for t in identifier_tokens(text, 2)} & banned
        if leaked:
            problems.append(f"{spec['key']}: {sorted(leaked)}")
        if (qid := _window_violation(spec, rules)) is not None:
            problems.append(f"{spec['key']}: inside the window of {qid} (days_ago {spec['days_ago']})")
        own = [spec["key"], *(e["key"] for e in spec["events"])]
        if keys.intersection(own):
            problems.append(f"{spec['key']}: reuses dataset keys {sorted(keys.intersection(own))}")
        if spec.get("project_key") is not None and spec["project_key"] not in dataset["projects"]:
            problems.append(f"{spec['key']}: unknown project {spec['project_key']}")
    if problems:
        raise LeakError(f"{len(problems)} distractor problems:\n" + "\n".join(problems[:40]))


# --- content -----------------------------------------------------------------------------------

TICKET_PREFIX = {
    "archon_mcp": "TASK",
    "payments_api": "PAY",
    "storefront_web": "WEB",
    "platform_infra": "OPS",
    "data_pipeline": "DATA",
    "auth_service": "IAM",
    "docs_site": "DOCS",
    "mobile_app": "APP",
    None: "OPS",
}
SERVICES = {
    "archon_mcp": ("the memory server", "the export worker", "the admin CLI"),
    "payments_api": ("ledger-service", "payouts-api", "refunds-worker", "billing-jobs"),
    "storefront_web": ("catalog-api", "search-ui", "account-pages", "storefront-bff"),
    "platform_infra": ("edge-proxy", "metrics-gateway", "runner-pool", "dns-controller"),
    "data_pipeline": ("orders-loader", "events-compactor", "partner-sftp-sync", "metrics-rollup"),
    "auth_service": ("identity-admin", "token-broker", "sso-gateway"),
    "docs_site": ("docs-builder", "docs-search"),
    "mobile_app": ("mobile-bff", "app-config-api"),
    None: ("the shared tooling", "the ops scripts"),
}


def _hex(rng: random.Random, n: int = 7) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _slots(rng: random.Random, project: str | None, banned: set[str]) -> dict[str, Any]:
    """Per-session values; each is drawn again until it holds no banned identifier."""

    def draw(make: Any) -> Any:
        for _ in range(100):
            value = make()
            if not identifier_tokens(str(value), 2) & banned:
                return value
        raise LeakError(f"cannot draw a value free of dataset identifiers ({value})")

    prefix = TICKET_PREFIX[project]
    return {
        "ticket": draw(lambda: f"{prefix}-{rng.randint(2000, 9899)}"),
        "ticket2": draw(lambda: f"{prefix}-{rng.randint(2000, 9899)}"),
        "commit": draw(lambda: _hex(rng)),
        "commit2": draw(lambda: _hex(rng)),
        "n": draw(lambda: rng.randint(11, 940)),
        "n2": draw(lambda: rng.randint(1100, 48000)),
        "small": rng.randint(2, 9),
        "ms": draw(lambda: rng.randint(26, 240) * 10),
        "ms2": draw(lambda: rng.randint(31, 139)),
        "pct": draw(lambda: round(rng.uniform(2, 35), 1)),
        "port": draw(lambda: rng.choice((8443, 9090, 9464, 7070, 6543, 5005, 8125, 4317, 9000, 3030))),
        "rev": draw(lambda: f"{rng.randint(11, 64):04d}"),
        "ver": draw(lambda: f"{rng.randint(1, 9)}.{rng.randint(11, 39)}.{rng.randint(1, 9)}"),
        "svc": rng.choice(SERVICES[project]),
        "day": rng.choice(("Monday", "Tuesday", "Wednesday", "Friday")),
    }


# Background families. Every string may use the slots above and the family's own `vars` (one
# choice per session). Errors are (error, where); decisions are (decision, rationale, alternatives);
# commands are (command, output).
FAMILIES: list[dict[str, Any]] = [
    {
        "name": "migration",
        "tags": {"alembic", "migration"},
        "projects": ("payments_api", "archon_mcp", "auth_service", "data_pipeline", "storefront_web"),
        "vars": {
            "table": ("refunds", "audit_log", "payout_batches", "api_clients", "tenants", "export_jobs", "coupons"),
            "column": ("tenant_id", "archived_at", "external_ref", "locale", "retry_count", "owner_email"),
            "slug": ("add_tenant_column", "archive_flag", "external_ref_index", "coupon_limits", "owner_email"),
        },
        "tasks": (
            "Add {column} to {table} in revision {rev}_{slug}",
            "Make {table}.{column} NOT NULL",
            "Backfill {table}.{column} for existing rows",
        ),
        "errors": (
            (
                'psycopg.errors.NotNullViolation: column "{column}" of relation "{table}" contains null values',
                "alembic/versions/{rev}_{slug}.py",
            ),
            ("psycopg.errors.LockNotAvailable: canceling statement due to lock timeout", "alembic upgrade on staging"),
            (
                'psycopg.errors.DuplicateColumn: column "{column}" of relation "{table}" already exists',
                "alembic/versions/{rev}_{slug}.py",
            ),
            ("alembic.util.exc.CommandError: Target database is not up to date.", "alembic revision --autogenerate"),
            (
                'sqlalchemy.exc.ProgrammingError: (psycopg.errors.InvalidTextRepresentation) invalid input value for enum "{table}_status"',
                "{table} backfill script",
            ),
        ),
        "findings": (
            "{n2} rows in {table} have no {column}; they predate the {svc} change",
            "the staging copy of {table} has {n2} rows, the ALTER waited behind a long analytics query",
            "autogenerate also picked up an unrelated server_default change on {table}",
            "the previous revision already created {column} on the staging database by hand",
        ),
        "decisions": (
            (
                "Backfill {table}.{column} in batches of {n} rows before adding the NOT NULL",
                "one UPDATE over the whole table held the lock for minutes on the staging copy",
                ["NOT NULL with a server default", "leave the column nullable"],
            ),
            (
                "Set lock_timeout to 5s inside the revision and retry the step",
                "failing fast is better than queueing every writer behind the ALTER",
                ["run it during the maintenance window", "no timeout"],
            ),
            (
                "Drop the hand-made column on staging and let the revision own it",
                "environments must only change through migrations",
                ["make the revision tolerate an existing column"],
            ),
        ),
        "commands": (
            ("alembic upgrade head", "Running upgrade -> {rev}_{slug}, done in {small} seconds"),
            ("alembic downgrade -1", "Running downgrade {rev}_{slug} -> previous, ok"),
            ("alembic history --verbose | head", "one linear history, head is {rev}_{slug}"),
        ),
        "results": (
            "revision {rev}_{slug} applies and downgrades cleanly on a staging snapshot",
            "{table}.{column} is NOT NULL and populated for all {n2} rows",
        ),
        "next": ("apply {rev}_{slug} in the {day} maintenance window", "drop the temporary backfill script"),
    },
    {
        "name": "kubernetes",
        "tags": {"k8s"},
        "projects": ("platform_infra", "data_pipeline", "payments_api", None),
        "vars": {
            "ns": ("batch", "observability", "ingress-system", "jobs", "ops-tools"),
            "thing": ("node pool upgrade", "CronJob schedule", "NetworkPolicy", "PodDisruptionBudget", "PVC resize"),
        },
        "tasks": (
            "Finish the {thing} work in the {ns} namespace",
            "Drain the old nodes of the general pool for the {thing}",
            "Clean up the {thing} for {svc}",
        ),
        "errors": (
            (
                "Cannot evict pod as it would violate the pod's disruption budget",
                "kubectl drain on the general node pool",
            ),
            ("dial tcp: i/o timeout calling the object store from {svc}", "egress from namespace {ns}"),
            ("Job has reached the specified backoff limit", "CronJob nightly-report in {ns}"),
            ("waiting for first consumer to be created before binding", "PersistentVolumeClaim data-{svc}"),
        ),
        "findings": (
            "the PodDisruptionBudget of {svc} has minAvailable equal to its replica count, so no pod may ever be evicted",
            "the new NetworkPolicy in {ns} only allows egress to the cluster CIDR",
            "the nightly job runs in UTC but the report is expected at 06:00 Europe/Berlin",
            "the storage class uses WaitForFirstConsumer, the claim binds when a pod is scheduled",
        ),
        "decisions": (
            (
                "Set maxUnavailable: 1 on the disruption budget instead of minAvailable",
                "keeps one pod moving during drains without risking the whole service",
                ["scale up before every drain"],
            ),
            (
                "Allow egress from {ns} to the object store endpoint on 443 only",
                "least privilege, and the policy stays readable",
                ["allow all egress", "route through the proxy"],
            ),
            (
                "Set the CronJob timeZone field and keep the schedule in local time",
                "the cluster supports it now and it survives daylight saving",
                ["shift the cron expression by hand twice a year"],
            ),
        ),
        "commands": (
            ("kubectl -n {ns} get pdb,pods -o wide", "{small} pods, disruptions allowed 0"),
            ("kubectl -n {ns} describe networkpolicy default-deny", "egress rules: cluster CIDR only"),
            ("kubectl -n {ns} get events --sort-by=.lastTimestamp | tail", "no warnings after the change"),
        ),
        "results": ("drain completed, all nodes of the general pool replaced", "the {thing} change is applied in {ns}"),
        "next": ("apply the same budget rule to the other namespaces", "document the {thing} in the platform runbook"),
    },
    {
        "name": "deploy",
        "tags": {"deploy", "k8s"},
        "projects": ("payments_api", "platform_infra", "data_pipeline", "auth_service", "storefront_web"),
        "vars": {
            "what": ("canary release", "blue/green switch", "feature flag ramp", "release train", "config rollout"),
            "flag": ("new-ledger-export", "batched-payouts", "partner-sync-next", "catalog-facets", "async-receipts"),
        },
        "tasks": ("Ship {svc} {ver} as a {what}", "Ramp the {flag} flag for {svc}", "Prepare the {ver} release notes"),
        "errors": (
            ("release script failed: tag {ver} already exists on origin", "make release"),
            ("Argo CD: application {svc} is OutOfSync, config map differs from git", "sync of {svc}"),
            (
                "smoke test failed: /version still reported the previous build for {small} minutes",
                "post-deploy check of {svc}",
            ),
            ("manual approval step timed out after a day", "production stage of the pipeline"),
        ),
        "findings": (
            "the config map was edited by hand during an incident and never committed",
            "the canary got {pct}% of traffic and its error rate matched the stable version",
            "the flag was on for internal accounts only, {n} merchants in the beta list",
            "the release notes generator skips commits without a conventional prefix",
        ),
        "decisions": (
            (
                "Ramp {flag} from 5% to a quarter of traffic, then to everyone, with a day between steps",
                "the first step only covers internal traffic, the metrics need a full business day",
                ["switch everyone at once"],
            ),
            (
                "Commit the hand edit to git and let Argo CD own the config map again",
                "drift hides changes from review",
                ["ignore the field in the diff"],
            ),
            (
                "Fix forward with {commit} instead of pausing the release train",
                "the issue is cosmetic and the train carries the quarterly dependency bumps",
                ["hold the train a week"],
            ),
        ),
        "commands": (
            ("argocd app sync {svc}", "Synced, healthy"),
            ("git tag -a {ver} -m 'release {ver}' && git push --tags", "tag pushed"),
            ("curl -s https://internal.acme.dev/{svc}/version", "{ver} ({commit})"),
        ),
        "results": (
            "{svc} {ver} serving all traffic with no alert",
            "{flag} enabled for everyone, old code path scheduled for removal",
        ),
        "next": ("remove the {flag} flag after two weeks", "automate the release notes check"),
    },
    {
        "name": "auth",
        "tags": {"auth", "security"},
        "projects": ("auth_service",),
        "vars": {
            "feature": (
                "SAML single sign-on for the admin console",
                "OAuth client credentials for internal jobs",
                "refresh token rotation",
                "role-based access for support staff",
                "password reset emails",
            ),
            "idp": ("Okta", "Azure AD", "Google Workspace"),
        },
        "tasks": ("Implement {feature}", "Connect {idp} to {svc}", "Review the scopes of {svc}"),
        "errors": (
            ("onelogin.saml2.errors.OneLogin_Saml2_Error: Signature validation failed", "POST /sso/acs from {idp}"),
            (
                "authlib.integrations.base_client.errors.MismatchingStateError: mismatching_state",
                "OAuth callback in {svc}",
            ),
            ("jwt.exceptions.ExpiredSignatureError: Signature has expired", "refresh flow integration test"),
            ("AttributeError: the {idp} assertion has no groups attribute", "role mapping in {svc}"),
        ),
        "findings": (
            "{idp} signs the assertion, not the response, and our settings expected both",
            "the state cookie was set on the apex domain but the callback runs on the admin subdomain",
            "support staff need read access to orders but no refunds",
            "{n} internal jobs call the admin API and need credentials of their own",
        ),
        "decisions": (
            (
                "Map {idp} groups to three roles: viewer, support, admin",
                "fewer roles keep the audit simple",
                ["one role per team", "per-permission checkboxes"],
            ),
            (
                "Issue client-credentials tokens with a 15 minute lifetime for internal jobs",
                "short tokens remove the need for revocation lists",
                ["static API keys"],
            ),
            (
                "Rotate refresh tokens on every use and keep a family id to detect reuse",
                "reuse of an old token then revokes the whole family",
                ["fixed refresh tokens"],
            ),
        ),
        "commands": (
            ("pytest tests/sso -q", "{n} passed"),
            (
                "curl -s https://{svc}.internal/.well-known/openid-configuration | jq .scopes_supported",
                "openid, orders.read, refunds.write",
            ),
        ),
        "results": ("{feature} live for internal users", "{idp} login works for the support team"),
        "next": ("move the remaining service accounts to client credentials", "add the role matrix to the docs"),
    },
    {
        "name": "caching",
        "tags": {"cache"},
        "projects": ("storefront_web", "payments_api", "data_pipeline", "archon_mcp", "auth_service"),
        "vars": {
            "cached": ("category pages", "exchange rates", "feature flag lookups", "shipping quotes", "tax tables"),
            "layer": ("the CDN", "an in-process TTL cache", "Memcached", "HTTP ETags"),
        },
        "tasks": ("Cache {cached} in {layer}", "Fix stale {cached} after updates", "Measure the hit rate of {layer}"),
        "errors": (
            ("stale {cached} served for {small} minutes after an update", "{svc}"),
            ("pymemcache.exceptions.MemcacheServerError: object too large for cache", "{svc} cache writes"),
            ("Cache-Control header missing on {cached} responses, CDN hit rate {pct}%", "edge logs"),
        ),
        "findings": (
            "the cache key does not include the currency, so one price list was served to every market",
            "invalidation only happens on the writer instance, the other {small} replicas keep their copy",
            "{pct}% of requests for {cached} are misses because the query string order varies",
        ),
        "decisions": (
            (
                "Include currency and locale in the cache key of {cached}",
                "the same page differs per market",
                ["disable caching for non-default markets"],
            ),
            (
                "Publish an invalidation message on every write instead of relying on the TTL",
                "updates must show within seconds",
                ["shorter TTL"],
            ),
            (
                "Normalise the query string before it reaches {layer}",
                "equivalent URLs should share one entry",
                ["cache by path only"],
            ),
        ),
        "commands": (
            ("curl -sI https://www.acme-shop.dev/c/shoes | grep -i cache", "cache-control: public, max-age=300"),
        ),
        "results": (
            "hit rate of {cached} up to {pct}% of what it was plus 40 points",
            "no stale {cached} in a week of checks",
        ),
        "next": ("add a cache hit rate panel to the dashboard",),
    },
    {
        "name": "ci",
        "tags": {"ci"},
        "projects": (
            "archon_mcp",
            "payments_api",
            "storefront_web",
            "platform_infra",
            "data_pipeline",
            "auth_service",
            None,
        ),
        "vars": {
            "check": (
                "mypy strict mode",
                "a coverage gate",
                "the ruff rule set",
                "a docs build check",
                "a Python version matrix",
            ),
            "wf": ("lint.yml", "checks.yml", "publish.yml", "nightly.yml"),
        },
        "tasks": ("Add {check} to CI", "Fix the failing {wf} workflow", "Make the {wf} workflow required"),
        "errors": (
            ('mypy: error: Incompatible return value type (got "str | None", expected "str")', "services/{svc}.py"),
            ("Coverage failure: total of {pct}% is less than fail-under=85", "{wf}"),
            ("Error: Process completed with exit code 2", "{wf}, step lint"),
            ("yaml: line {n}: did not find expected key", ".github/workflows/{wf}"),
        ),
        "findings": (
            "{n} mypy errors, most in old modules without annotations",
            "the coverage job counted the migration folder, which has no tests",
            "the workflow ran on pull_request only, so pushes to main were never checked",
        ),
        "decisions": (
            (
                "Enable {check} per package, starting with the new modules",
                "fixing everything at once would block every open pull request",
                ["enable it everywhere and add ignores"],
            ),
            (
                "Exclude the migration folder from coverage",
                "migrations are exercised by the upgrade test, not unit tests",
                ["write tests for migrations"],
            ),
        ),
        "commands": (("act -j lint", "job succeeded"), ("gh workflow run {wf} --ref main", "run queued")),
        "results": ("{check} green on main and required for merges", "{wf} passes on main again"),
        "next": ("extend {check} to the remaining packages",),
    },
    {
        "name": "billing",
        "tags": {"billing"},
        "projects": ("payments_api",),
        "vars": {
            "feature": (
                "VAT rates per country",
                "proration on plan changes",
                "coupon stacking rules",
                "invoice PDF layout",
                "payout statements",
            ),
        },
        "tasks": ("Implement {feature}", "Fix {feature} for the EU launch", "Review {feature} with finance"),
        "errors": (
            ("decimal.InvalidOperation: quantize result has too many digits", "billing/proration.py"),
            ("LookupError: no tax_rate for country code 'NO'", "billing/vat.py"),
            ("weasyprint: Fontconfig error, cannot load default config file", "invoice PDF worker"),
            ("ValueError: coupon WELCOME and coupon LOYAL cannot be combined", "POST /api/coupons/apply"),
        ),
        "findings": (
            "Norway is outside the EU VAT table we import",
            "proration used calendar days, finance expects seconds of the billing period",
            "{n} invoices of last month used the fallback font",
        ),
        "decisions": (
            (
                "Round proration with ROUND_HALF_EVEN at the last step only",
                "rounding every line drifted by a unit per invoice",
                ["round every line"],
            ),
            (
                "Keep tax rates in a table with valid_from dates instead of a constant",
                "rates change and old invoices must keep their rate",
                ["hard-code the current rates"],
            ),
            (
                "Bundle the fonts inside the PDF worker image",
                "the base image has no fonts and system packages differ between hosts",
                ["install fonts at start-up"],
            ),
        ),
        "commands": (("pytest tests/billing -q", "{n} passed"),),
        "results": ("{feature} matches the finance spreadsheet for {n} sample invoices",),
        "next": ("ask finance to sign off {feature}",),
    },
    {
        "name": "frontend",
        "tags": {"frontend"},
        "projects": ("storefront_web",),
        "vars": {
            "page": ("account settings", "order history", "wishlist", "store locator", "gift cards"),
            "comp": ("AddressBook", "OrderTimeline", "WishlistGrid", "StoreMap", "GiftCardForm"),
        },
        "tasks": ("Polish the {page} page", "Fix accessibility issues on {page}", "Translate the {page} page"),
        "errors": (
            ("TypeError: Cannot read properties of undefined (reading 'price')", "components/{comp}.tsx"),
            ('Warning: Each child in a list should have a unique "key" prop', "components/{comp}.tsx"),
            ("Error: MISSING_MESSAGE: Could not resolve `{comp}.title` in messages for locale `fr`", "{page} page"),
            ("axe: Buttons must have discernible text (button-name)", "{page} page"),
        ),
        "findings": (
            "the {comp} list used the array index as key, items jump when one is removed",
            "{n} strings on {page} were never extracted for translation",
            "the focus is lost when the {comp} dialog closes",
        ),
        "decisions": (
            (
                "Use the item id as the key in {comp}",
                "index keys reorder state when items change",
                ["keep index keys"],
            ),
            (
                "Return focus to the opening button when the {comp} dialog closes",
                "keyboard users otherwise land at the top of the page",
                ["leave focus to the browser"],
            ),
        ),
        "commands": (("pnpm test -- {comp}", "{small} suites passed"), ("pnpm lint", "0 problems")),
        "results": ("{page} passes the axe checks", "{page} fully translated for fr and de"),
        "next": ("run the same audit on the product pages",),
    },
    {
        "name": "data",
        "tags": {"data"},
        "projects": ("data_pipeline",),
        "vars": {
            "model": ("fct_orders", "dim_customers", "fct_refunds", "agg_daily_revenue", "dim_products"),
            "dag": ("partner_inventory_sync", "refunds_daily", "customer_snapshot", "revenue_rollup"),
        },
        "tasks": ("Fix the {dag} DAG", "Add tests to {model}", "Speed up {model}"),
        "errors": (
            ("dbt test failure: not_null_{model}_customer_key ({n} rows)", "dbt build --select {model}"),
            ("airflow.exceptions.AirflowTaskTimeout: Timeout, PID: {n2}", "{dag}.load"),
            ("google.api_core.exceptions.Forbidden: 403 Quota exceeded: bytes scanned", "{model} incremental run"),
            ("accepted_values test failed: status has value 'on_hold'", "dbt test --select {model}"),
        ),
        "findings": (
            "the incremental filter of {model} compares a date to a timestamp and rescans every partition",
            "{n} rows come from a test merchant that has no customer record",
            "the {dag} load task waits on a pool with a single slot",
        ),
        "decisions": (
            (
                "Filter {model} on the partition column so incremental runs scan one day",
                "the full scan cost more than the rest of the project",
                ["a bigger quota"],
            ),
            (
                "Exclude test merchants in the staging layer",
                "they should never reach the marts",
                ["relax the not_null test"],
            ),
        ),
        "commands": (
            ("dbt build --select {model}+", "PASS={n} WARN=0 ERROR=0"),
            ("airflow tasks test {dag} load 2026-09-14", "success"),
        ),
        "results": ("{model} builds in a fraction of the time and all tests pass", "{dag} green for a week"),
        "next": ("add a freshness check on the {model} source",),
    },
    {
        "name": "observability",
        "tags": {"observability"},
        "projects": ("platform_infra", "payments_api", "auth_service", None),
        "vars": {
            "signal": ("error budget alerts", "tracing", "log retention", "Sentry grouping", "latency dashboards"),
        },
        "tasks": ("Improve {signal} for {svc}", "Fix noisy {signal}", "Set up {signal} for {svc}"),
        "errors": (
            (
                "Error executing query: found duplicate series for the match group, many-to-many matching not allowed",
                "Grafana panel of {svc}",
            ),
            ("OTLP exporter: failed to export spans, server responded UNAVAILABLE", "collector on port {port}"),
            ("alert fired {n} times in a day without an incident", "{signal}"),
        ),
        "findings": (
            "two scrape jobs collect the same target, every series is doubled",
            "the collector sidecar starts after the app and the first spans are dropped",
            "Sentry groups every timeout under one issue because the message contains the URL",
        ),
        "decisions": (
            (
                "Alert on burn rate over 1h and 6h windows instead of raw error counts",
                "raw counts page at night for blips",
                ["raise the static threshold"],
            ),
            (
                "Strip ids from exception messages before they reach Sentry",
                "grouping should follow the code path, not the data",
                ["custom fingerprints per call site"],
            ),
        ),
        "commands": (("promtool check rules rules/{svc}.yml", "SUCCESS: {small} rules found"),),
        "results": ("{signal} for {svc} in place, pages down from {n} to a handful a week",),
        "next": ("review the remaining alerts with the pager rotation",),
    },
    {
        "name": "archon_features",
        "tags": {"archon"},
        "projects": ("archon_mcp",),
        "vars": {
            "feature": (
                "session export to JSON lines",
                "pagination of list tools",
                "an MCP resource per project",
                "a prompt for weekly digests",
                "import of sessions from another store",
            ),
            "file": ("tools/export.py", "services/transfer.py", "tools/listing.py", "prompts/digest.py"),
        },
        "tasks": ("Implement {feature}", "Add tests for {feature}", "Document {feature} in the README"),
        "errors": (
            (
                "sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here",
                "{file}",
            ),
            ("TypeError: Object of type datetime is not JSON serializable", "{file}"),
            ("ExportRequest rejected: cursor is not a valid position", "{file}"),
        ),
        "findings": (
            "lazy loading of the events relationship happens outside the async context",
            "cursor pagination by created_at repeats rows that share a timestamp",
            "an export of {n2} events takes {small} seconds",
        ),
        "decisions": (
            (
                "Paginate with an opaque cursor of (created_at, id)",
                "timestamps alone are not unique",
                ["offset pagination"],
            ),
            (
                "Load events with selectin loading inside the service call",
                "no lazy loads may happen after the session closes",
                ["expire_on_commit=False everywhere"],
            ),
        ),
        "commands": (("pytest tests -q -k export", "{n} passed"),),
        "results": ("{feature} merged in {commit}",),
        "next": ("mention {feature} in the changelog",),
    },
    {
        "name": "mobile",
        "tags": {"mobile"},
        "projects": ("mobile_app",),
        "vars": {
            "feature": (
                "universal links",
                "offline order history",
                "in-app review prompt",
                "biometric login",
                "app store screenshots",
            ),
        },
        "tasks": ("Ship {feature} in the app", "Fix {feature} on Android", "Fix {feature} on iOS"),
        "errors": (
            ("apple-app-site-association not found for the shop domain", "{feature}"),
            ("Play Console: policy issue, missing data safety declaration", "release {ver}"),
            ("SQLiteConstraintException: UNIQUE constraint failed: orders.id", "offline sync"),
        ),
        "findings": (
            "the association file must be served without a redirect and as JSON",
            "offline edits replayed after login duplicate rows that already synced",
        ),
        "decisions": (
            (
                "Serve the association file from the web app's public folder",
                "the CDN redirect broke verification",
                ["host it on a separate domain"],
            ),
            (
                "Upsert synced orders by id instead of inserting",
                "the sync may replay a page",
                ["clear the table before every sync"],
            ),
        ),
        "commands": (("./gradlew connectedCheck", "BUILD SUCCESSFUL"),),
        "results": ("{feature} live in {ver}",),
        "next": ("watch the store reviews after {ver}",),
    },
    {
        "name": "docs",
        "tags": {"docs"},
        "projects": ("docs_site",),
        "vars": {
            "page": (
                "versioned docs",
                "architecture diagrams",
                "the style guide",
                "the FAQ",
                "the troubleshooting page",
            )
        },
        "tasks": ("Write {page}", "Restructure {page}", "Review {page}"),
        "errors": (
            ("mike: error: version {ver} already exists", "docs deploy"),
            ("mermaid: Parse error on line {small}", "{page}"),
        ),
        "findings": (
            "{n} pages still describe the old configuration file",
            "search ranks the changelog above the guides",
        ),
        "decisions": (
            (
                "Keep two documented versions: latest and the previous minor",
                "older versions confused readers",
                ["all versions"],
            ),
            ("Draw diagrams in mermaid inside the markdown", "images went stale", ["exported PNGs"]),
        ),
        "commands": (("mkdocs build --strict", "Documentation built"),),
        "results": ("{page} published",),
        "next": ("ask support which questions come up most",),
    },
    {
        "name": "security",
        "tags": {"security"},
        "projects": ("payments_api", "storefront_web", "data_pipeline", "platform_infra"),
        "vars": {
            "finding": (
                "an SSRF in the image proxy",
                "missing CSRF tokens on admin forms",
                "a secret committed to a test fixture",
                "an open S3 bucket policy",
                "a dependency with a known CVE",
            )
        },
        "tasks": ("Fix {finding}", "Triage {finding}", "Add a check that prevents {finding}"),
        "errors": (
            ("security scanner: {finding} in {svc}", "weekly scan"),
            ("gitleaks: generic-api-key detected in tests/fixtures/partner.json", "commit hook"),
        ),
        "findings": ("the proxy followed redirects to internal addresses", "the fixture key was a live sandbox key"),
        "decisions": (
            (
                "Resolve the host and refuse private ranges before fetching",
                "blocks redirects to metadata endpoints",
                ["a URL allowlist only"],
            ),
            (
                "Revoke the key and run gitleaks in a commit hook and in CI",
                "a leaked key must be useless and new ones caught",
                ["rewrite history only"],
            ),
        ),
        "commands": (("gitleaks detect --redact", "no leaks found"),),
        "results": ("{finding} fixed and verified by a second scan",),
        "next": ("add {finding} to the threat model",),
    },
    {
        "name": "performance",
        "tags": {"performance", "benchmark"},
        "projects": ("payments_api", "auth_service", "data_pipeline", "archon_mcp"),
        "vars": {
            "endpoint": (
                "GET /api/refunds",
                "GET /api/payouts",
                "POST /api/exports",
                "GET /admin/clients",
                "the nightly rollup",
            )
        },
        "tasks": ("Make {endpoint} faster", "Profile {endpoint}", "Add an index for {endpoint}"),
        "errors": (("slow query: {endpoint} took {ms} ms at the 95th percentile", "APM trace"),),
        "findings": (
            "EXPLAIN ANALYZE shows a sequential scan on {n2} rows sorted by created_at",
            "the response serialises every nested object even when the client asks for ids",
        ),
        "decisions": (
            (
                "Add a composite index on (merchant_id, created_at DESC)",
                "matches the filter and the sort",
                ["a materialised view"],
            ),
            ("Return a sparse field set unless expand is passed", "most clients use ids only", ["always expand"]),
        ),
        "commands": (("EXPLAIN (ANALYZE, BUFFERS) SELECT ...", "Index Scan, {ms2} ms"),),
        "benchmarks": ("{endpoint}: {ms} ms -> {ms2} ms at the 95th percentile",),
        "results": ("{endpoint} down to {ms2} ms at the 95th percentile",),
        "next": ("check the other list endpoints for the same pattern",),
    },
]


def _fmt(template: Any, slots: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return string.Formatter().vformat(template, (), slots)
    if isinstance(template, list | tuple):
        return [_fmt(t, slots) for t in template]
    if isinstance(template, dict):
        return {k: _fmt(v, slots) for k, v in template.items()}
    return template


def _background(
    rng: random.Random, family: dict[str, Any], agent: str, project: str | None, banned: set[str]
) -> dict[str, Any]:
    slots = _slots(rng, project, banned)
    slots |= {k: rng.choice(v) for k, v in family["vars"].items()}
    title = _fmt(rng.choice(family["tasks"]), slots)
    ticket = slots["ticket"]
    events: list[tuple[str, dict[str, Any]]] = [
        ("task_created", {"task_id": ticket, "title": title, "priority": rng.choice(("low", "medium", "high"))})
    ]
    error, where = rng.choice(family["errors"])
    finding = rng.choice(family["findings"])
    decision, rationale, alternatives = rng.choice(family["decisions"])

    def error_event(e: str, w: str) -> tuple[str, dict[str, Any]]:
        return "error_encountered", {"error": _fmt(e, slots), "location": _fmt(w, slots)}

    def decision_event(d: str, r: str, a: list[str]) -> tuple[str, dict[str, Any]]:
        return "decision_made", {
            "decision": _fmt(d, slots),
            "rationale": _fmt(r, slots),
            "alternatives": _fmt(a, slots),
        }

    # The session's own error, finding and decision come first; then other steps of the same
    # family, each at most once, in random order.
    story = [error_event(error, where), ("context_shared", {"finding": _fmt(finding, slots)})]
    story.append(decision_event(decision, rationale, alternatives))
    extra: list[tuple[str, dict[str, Any]]] = []
    extra += [error_event(e, w) for e, w in family["errors"] if e != error]
    extra += [("context_shared", {"finding": _fmt(f, slots)}) for f in family["findings"] if f != finding]
    extra += [decision_event(*d) for d in family["decisions"] if d[0] != decision]
    extra += [
        ("command_run", {"command": _fmt(c, slots), "exit_code": 0, "output": _fmt(o, slots)})
        for c, o in family["commands"]
    ]
    extra += [("benchmark_result", {"benchmark": _fmt(x, slots)}) for x in family.get("benchmarks", ())]
    extra.append(("test_run", {"command": "pytest -q", "result": _fmt("{n} passed, 0 failed", slots)}))
    for status, note in (("in_progress", "reproduced on staging"), ("in_review", "draft PR opened ({commit})")):
        extra.append(("task_updated", {"task_id": ticket, "status": status, "note": _fmt(note, slots)}))
    extra.append(
        ("task_updated", {"task_id": ticket, "status": "blocked", "note": "waiting for a review by the owning team"})
    )
    rng.shuffle(extra)
    steps = story + extra[: rng.randint(3, 10)]
    events += [steps[0], *sorted(steps[1:], key=lambda _: rng.random())]
    result = _fmt(rng.choice(family["results"]), slots)
    events.append(("task_completed", {"task_id": ticket, "result": result, "commit": slots["commit"]}))
    tags = set(family["tags"]) | ({"benchmark"} if any(t == "benchmark_result" for t, _ in events) else set())
    summary = (
        f"{title}. Hit {_fmt(error, slots).split(':')[0]}; {_fmt(finding, slots)}. "
        f"Decided to {_fmt(decision, slots)[0].lower()}{_fmt(decision, slots)[1:]} because {_fmt(rationale, slots)}. "
        f"Outcome: {result}."
    )
    metadata = {
        "key_events": [title, _fmt(error, slots)[:90], result],
        "decisions": [_fmt(decision, slots)],
        "outcomes": [result],
        "next_steps": [_fmt(rng.choice(family["next"]), slots)],
    }
    if rng.random() < 0.15:
        # Some agents forget to hand over: like the dataset, a share has no summary.
        summary, metadata = None, {"ticket": ticket, "branch": f"fix/{ticket.lower()}"}
    return {"summary": summary, "metadata": metadata, "events": events, "topics": sorted(tags)}


# Near-duplicates: (dataset session they shadow, topics, project, agents, summary, metadata, events).
# Same topic and vocabulary as the original, other cause, identifiers, numbers and outcome.
SIBLINGS: list[dict[str, Any]] = [
    {
        "of": "s01-alembic-fk-error",
        "topics": {"alembic", "migration"},
        "project": "payments_api",
        "summary": "Alembic revision {rev}_refunds_tenant_not_null failed with psycopg.errors.NotNullViolation because {n} refunds created by the legacy importer had no tenant. Backfilled the tenant from the parent payout batch before SET NOT NULL; the upgrade runs on the staging copy.",
        "metadata": {
            "key_events": [
                "alembic upgrade head failed on {rev}_refunds_tenant_not_null",
                "found {n} refunds without tenant",
                "backfill added to the revision",
            ],
            "decisions": ["derive the missing tenant from payout_batches instead of deleting rows"],
            "outcomes": ["upgrade succeeds on staging copy"],
            "next_steps": ["run the revision in the {day} window"],
        },
        "events": [
            ("task_created", {"task_id": "{ticket}", "title": "Make refunds.tenant_id NOT NULL", "priority": "high"}),
            (
                "error_encountered",
                {
                    "error": 'psycopg.errors.NotNullViolation: column "tenant_id" of relation "refunds" contains null values',
                    "command": "alembic upgrade head",
                    "revision": "{rev}_refunds_tenant_not_null",
                },
            ),
            (
                "context_shared",
                {
                    "query": "SELECT count(*) FROM refunds WHERE tenant_id IS NULL",
                    "result": "{n}",
                    "note": "all created by the legacy CSV importer before tenants existed",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Backfill refunds.tenant_id from payout_batches inside the revision, then SET NOT NULL",
                    "alternatives": ["delete the rows", "keep the column nullable"],
                    "rationale": "the refunds are real money movements and must be kept",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "upgrade and downgrade pass on the staging copy"}),
        ],
    },
    {
        "of": "s02-pgvector-extension-missing",
        "topics": {"alembic", "migration", "ci"},
        "project": "storefront_web",
        "summary": "CI's fresh database could not run the product search migration because the pg_trgm extension is missing from the postgres alpine image. Switched the CI service to the full Debian image, which ships the contrib extensions.",
        "metadata": {
            "key_events": ["migration {rev}_product_trgm_index failed in CI", "alpine image has no contrib extensions"],
            "decisions": ["use the Debian postgres image in CI"],
            "outcomes": ["CI migrations pass"],
            "next_steps": ["align the local compose file"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": 'psycopg.errors.UndefinedFile: could not open extension control file "pg_trgm.control": No such file or directory',
                    "revision": "{rev}_product_trgm_index",
                },
            ),
            (
                "context_shared",
                {
                    "finding": "the CI service container uses postgres:15-alpine without contrib",
                    "file": ".github/workflows/{wf}",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Run CI against the Debian-based postgres image",
                    "rationale": "it ships the contrib extensions we use in production",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "migrations and search tests green in CI"}),
        ],
        "vars": {"wf": ("checks.yml", "backend.yml")},
    },
    {
        "of": "s03-alembic-multiple-heads",
        "topics": {"alembic", "migration", "ci"},
        "project": "auth_service",
        "summary": "alembic upgrade failed in CI with \"Can't locate revision identified by '{commit}'\" after a rebase deleted a revision file that staging had already applied. Restored the file from git history and added a CI check that no applied revision disappears.",
        "metadata": {
            "key_events": ["revision file lost in a rebase", "staging stamped with a missing revision"],
            "decisions": ["never delete a revision that reached any shared database"],
            "outcomes": ["upgrade works on staging again"],
            "next_steps": ["document the rule in CONTRIBUTING"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "alembic.util.exc.CommandError: Can't locate revision identified by '{commit}'",
                    "command": "alembic upgrade head",
                },
            ),
            (
                "context_shared",
                {
                    "finding": "the revision was squashed away in a rebase of the roles branch, but staging already had it applied"
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Restore the deleted revision file from git history instead of stamping staging",
                    "rationale": "stamping hides the schema difference",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "alembic history is linear and staging upgrades"}),
        ],
    },
    {
        "of": "s04-hnsw-index-migration",
        "topics": {"migration", "performance"},
        "project": "data_pipeline",
        "summary": "Building the HNSW index on product_embeddings took over an hour because it ran on a single worker during peak hours. Raised max_parallel_maintenance_workers for the build session and moved the build off-peak; it now takes {small} minutes.",
        "metadata": {
            "key_events": ["HNSW build slow on {n2} product vectors", "build ran without parallel workers"],
            "decisions": ["parallel maintenance workers for the build session only"],
            "outcomes": ["build in {small} minutes"],
            "next_steps": ["schedule rebuilds off-peak"],
        },
        "events": [
            (
                "context_shared",
                {
                    "finding": "the build ran with max_parallel_maintenance_workers = 0, the managed default",
                    "table": "product_embeddings",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "SET max_parallel_maintenance_workers = 4 for the index build session and start it at night",
                    "rationale": "the build is CPU bound and the daytime load slows it further",
                },
            ),
            (
                "benchmark_result",
                {"benchmark": "HNSW build on product_embeddings", "before": "71 min", "after": "{small} min"},
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "index built, recommendations query uses it"}),
        ],
    },
    {
        "of": "s05-payments-column-rename",
        "topics": {"migration"},
        "project": "storefront_web",
        "summary": "Renamed customers.phone to phone_e164 without downtime: new column, sync trigger, batched backfill that also normalised the numbers, then reads switched and the old column dropped a week later.",
        "metadata": {
            "key_events": ["added phone_e164", "backfilled {n2} customers", "dropped customers.phone"],
            "decisions": ["normalise numbers during the backfill"],
            "outcomes": ["no downtime"],
            "next_steps": ["remove the phonenumbers fallback"],
        },
        "events": [
            ("task_created", {"task_id": "{ticket}", "title": "Rename customers.phone to phone_e164"}),
            (
                "decision_made",
                {
                    "decision": "Expand and contract: add phone_e164, sync it with trigger trg_customers_phone_copy, backfill in batches of {n} rows",
                    "rationale": "the account pages read the column on every request",
                },
            ),
            (
                "error_encountered",
                {
                    "error": "phonenumbers.phonenumberutil.NumberParseException: (0) Missing or invalid default region.",
                    "location": "backfill_phone_e164.py",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "reads use phone_e164, old column dropped"}),
        ],
    },
    {
        "of": "s06-undefined-table-test-db",
        "topics": {"tests"},
        "project": "auth_service",
        "summary": None,
        "metadata": {"branch": "fix/test-db-privileges", "ticket": "{ticket}"},
        "events": [
            (
                "error_encountered",
                {
                    "error": "psycopg.errors.InsufficientPrivilege: permission denied for schema public",
                    "location": "tests/db/test_roles.py::test_create_role",
                },
            ),
            (
                "context_shared",
                {
                    "finding": "PostgreSQL 15 no longer grants CREATE on the public schema to every role; the CI test role is not the owner"
                },
            ),
            (
                "task_updated",
                {
                    "task_id": "{ticket}",
                    "status": "in_progress",
                    "change": "CI init script grants CREATE on schema public to the test role",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "{n} passed"}),
        ],
    },
    {
        "of": "s12-docker-image-slim",
        "topics": {"docker"},
        "project": "storefront_web",
        "summary": "Shrank the storefront Node image from about 1.4GB to {n}MB by building with the standalone output of Next.js on node:20-alpine and copying only the traced files.",
        "metadata": {
            "key_events": ["image {n}MB", "standalone output enabled"],
            "decisions": ["ship the standalone server only"],
            "outcomes": ["smaller image pulls"],
            "next_steps": ["scan the alpine image weekly"],
        },
        "events": [
            (
                "context_shared",
                {"finding": "the image contained every installed package including the dev dependencies"},
            ),
            (
                "decision_made",
                {
                    "decision": "Use output: 'standalone' and a runner stage on node:20-alpine",
                    "rationale": "only the traced server files are needed at run time",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "image down to {n}MB"}),
        ],
    },
    {
        "of": "s13-gha-playwright-flaky",
        "topics": {"ci", "tests"},
        "project": "payments_api",
        "summary": None,
        "metadata": {"ci": "actions", "workflow": "backend.yml"},
        "events": [
            (
                "error_encountered",
                {
                    "error": "AssertionError: assert ['refund', 'capture'] == ['capture', 'refund']",
                    "test": "tests/test_ledger_export.py::test_export_lines",
                    "note": "fails about one run in {small} on CI only",
                },
            ),
            (
                "context_shared",
                {"finding": "the export query has no ORDER BY; on CI the planner picks a parallel scan"},
            ),
            (
                "decision_made",
                {
                    "decision": "Order ledger export lines by (created_at, id) in the query",
                    "rationale": "the export is consumed by finance tooling that expects a stable order",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "{n} CI runs in a row green"}),
        ],
    },
    {
        "of": "s22-claude-idempotency-fix",
        "topics": {"webhooks"},
        "project": "storefront_web",
        "summary": "Carrier tracking webhooks were processed twice when the carrier retried after our slow responses, so customers got duplicate shipping emails. Stored delivery ids in processed_deliveries with a unique constraint and acknowledge before processing.",
        "metadata": {
            "key_events": ["duplicate shipping emails", "delivery ids stored"],
            "decisions": ["acknowledge first, process from a queue"],
            "outcomes": ["no duplicate emails"],
            "next_steps": ["purge delivery ids after 30 days"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "carrier retried {n} tracking webhooks after timeouts, duplicate emails sent",
                    "endpoint": "POST /hooks/carrier",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Keep each delivery id in processed_deliveries (unique) and skip repeats",
                    "rationale": "the carrier guarantees delivery at least once",
                },
            ),
            (
                "error_encountered",
                {
                    "error": 'sqlalchemy.exc.IntegrityError: duplicate key value violates unique constraint "processed_deliveries_pkey"',
                    "note": "expected on retries, now caught",
                },
            ),
            (
                "task_completed",
                {"task_id": "{ticket}", "result": "replayed deliveries are ignored", "commit": "{commit}"},
            ),
        ],
    },
    {
        "of": "s23-refactor-session-service",
        "topics": {"refactor"},
        "project": "payments_api",
        "summary": "Split the payouts module into a PayoutQueries class for SQL and a payout scheduler for the business rules; the API handlers now call the scheduler only, which made its unit tests independent of the database.",
        "metadata": {
            "key_events": ["payouts.py split", "scheduler tests without database"],
            "decisions": ["SQL only in PayoutQueries"],
            "outcomes": ["tests run in seconds"],
            "next_steps": ["do the same for refunds"],
        },
        "events": [
            ("task_created", {"task_id": "{ticket}", "title": "Split payouts.py ({n} lines)"}),
            (
                "decision_made",
                {
                    "decision": "PayoutQueries holds every SQL statement; the scheduler owns transactions",
                    "rationale": "handlers were opening transactions in three places",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "payouts split, {n} tests pass"}),
        ],
    },
    {
        "of": "s24-refactor-react-hooks",
        "topics": {"frontend", "refactor"},
        "project": "storefront_web",
        "summary": "Converted the account settings pages (ProfileForm, AddressList, PasswordPanel) from class components to function components and moved their form state to react-hook-form.",
        "metadata": {
            "key_events": ["class components removed from account pages"],
            "decisions": ["react-hook-form for settings forms"],
            "outcomes": ["{n} lines removed"],
            "next_steps": ["convert the order history page"],
        },
        "events": [
            ("task_created", {"task_id": "{ticket}", "title": "Convert account settings class components"}),
            (
                "decision_made",
                {
                    "decision": "Use react-hook-form in ProfileForm and PasswordPanel",
                    "rationale": "the hand-written change handlers duplicated validation",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "no class components left in the account pages"}),
        ],
    },
    {
        "of": "s25-refactor-config-pydantic",
        "topics": {"refactor", "config"},
        "project": "data_pipeline",
        "summary": "Replaced the YAML config loader of the orders loader with typed settings validated at import time, so a missing bucket name fails the DAG parse instead of the third task.",
        "metadata": {
            "key_events": ["typed settings for the loader"],
            "decisions": ["validate at DAG parse time"],
            "outcomes": ["bad config fails early"],
            "next_steps": ["same for the partner sync"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "LookupError: setting export_bucket not found in orders_loader/config.py after {n} minutes of running",
                    "dag": "orders_loader",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Load settings into a frozen dataclass checked when the DAG file is parsed",
                    "rationale": "Airflow shows parse errors immediately",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "a misconfigured DAG file fails at parse time"}),
        ],
    },
    {
        "of": "s27-slow-vector-search",
        "topics": {"performance", "search"},
        "project": "storefront_web",
        "summary": "Product keyword search took {ms} ms at the 95th percentile because the query wrapped the column in lower(), so the GIN index was skipped. Added an expression index and the search now takes {ms2} ms.",
        "metadata": {
            "key_events": ["GIN index not used", "expression index added"],
            "decisions": ["index the expression the query uses"],
            "outcomes": ["{ms2} ms at the 95th percentile"],
            "next_steps": ["check the admin search"],
        },
        "events": [
            ("context_shared", {"finding": "EXPLAIN shows a sequential scan over products because of lower(name)"}),
            (
                "decision_made",
                {
                    "decision": "CREATE INDEX products_name_lower_trgm ON products USING gin (lower(name) gin_trgm_ops)",
                    "rationale": "matches the query expression",
                },
            ),
            ("benchmark_result", {"benchmark": "product search", "before": "{ms} ms", "after": "{ms2} ms"}),
        ],
    },
    {
        "of": "s28-n-plus-one-orders",
        "topics": {"performance"},
        "project": "payments_api",
        "summary": "GET /api/refunds was slow for large merchants because filtering by merchant and sorting by created_at used a sequential scan. Added a composite index; the endpoint now answers in {ms2} ms.",
        "metadata": {
            "key_events": ["sequential scan on refunds", "composite index"],
            "decisions": ["index (merchant_id, created_at)"],
            "outcomes": ["{ms2} ms"],
            "next_steps": ["review payouts listing"],
        },
        "events": [
            ("context_shared", {"finding": "one query, but it reads {n2} rows and sorts them"}),
            (
                "decision_made",
                {
                    "decision": "CREATE INDEX ON refunds (merchant_id, created_at DESC)",
                    "rationale": "matches filter and sort",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "{ms} ms -> {ms2} ms"}),
        ],
    },
    {
        "of": "s29-react-product-grid-rerender",
        "topics": {"frontend", "performance"},
        "project": "storefront_web",
        "summary": "The search results page had a slow LCP ({ms} ms over target) because hero images were full-size JPEGs. Switched to next/image with AVIF and explicit sizes.",
        "metadata": {
            "key_events": ["LCP regression on search results"],
            "decisions": ["next/image with AVIF"],
            "outcomes": ["LCP within budget"],
            "next_steps": ["apply to category pages"],
        },
        "events": [
            ("context_shared", {"finding": "hero images average {n2} KB and are not resized"}),
            (
                "decision_made",
                {
                    "decision": "Serve hero images through next/image with AVIF and a sizes attribute",
                    "rationale": "the CDN resizes on the fly",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "LCP within budget on mobile"}),
        ],
    },
    {
        "of": "s32-jwt-alg-none",
        "topics": {"security", "webhooks"},
        "project": "storefront_web",
        "summary": "Security review found that carrier callback signatures were compared with ==, which leaks timing. Switched to hmac.compare_digest and rejected callbacks older than five minutes.",
        "metadata": {
            "key_events": ["timing-unsafe comparison", "replay window added"],
            "decisions": ["constant-time comparison"],
            "outcomes": ["review item closed"],
            "next_steps": ["audit other signature checks"],
        },
        "events": [
            ("context_shared", {"finding": "callback verification used == on hex digests", "ticket": "{ticket}"}),
            (
                "decision_made",
                {
                    "decision": "Use hmac.compare_digest and require a timestamp within five minutes",
                    "rationale": "prevents timing attacks and replays",
                },
            ),
            (
                "task_completed",
                {"task_id": "{ticket}", "result": "callbacks with stale timestamps are rejected as unauthorized"},
            ),
        ],
    },
    {
        "of": "s33-sql-injection-sort-param",
        "topics": {"security"},
        "project": "payments_api",
        "summary": "A pentest showed path traversal in the statement download endpoint: the file parameter was joined to the storage path. Statements are now looked up by id and the parameter was removed.",
        "metadata": {
            "key_events": ["path traversal in statement download"],
            "decisions": ["look up statements by id"],
            "outcomes": ["pentest finding closed"],
            "next_steps": ["scan other download endpoints"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "GET /api/statements/download?file=../../etc/passwd returned the passwd file",
                    "report": "pentest {ticket}",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Resolve statements by id from the database and drop the file parameter",
                    "rationale": "no user input reaches the filesystem path",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "traversal attempts get not found"}),
        ],
    },
    {
        "of": "s34-npm-audit-cve",
        "topics": {"security"},
        "project": "data_pipeline",
        "summary": "pip-audit flagged CVE-2023-32681 in requests (proxy credentials leaked to the destination on redirects) in the partner SFTP sync. Bumped requests and removed the custom proxy handling.",
        "metadata": {
            "key_events": ["pip-audit finding in requests"],
            "decisions": ["bump requests, drop the proxy code"],
            "outcomes": ["audit clean"],
            "next_steps": ["run pip-audit in CI"],
        },
        "events": [
            ("error_encountered", {"error": "pip-audit: requests 2.30.0 has CVE-2023-32681", "package": "requests"}),
            (
                "decision_made",
                {
                    "decision": "Upgrade requests and delete the custom proxy handling",
                    "rationale": "it was only needed for a retired partner gateway",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "pip-audit reports no known vulnerabilities"}),
        ],
    },
    {
        "of": "s36-cors-wildcard-credentials",
        "topics": {"frontend"},
        "project": "storefront_web",
        "summary": "The new Content-Security-Policy blocked the analytics snippet and inline styles of the consent banner. Added a per-request nonce and moved the banner styles to a stylesheet.",
        "metadata": {
            "key_events": ["CSP blocked analytics"],
            "decisions": ["nonce-based script-src"],
            "outcomes": ["CSP enforced without violations"],
            "next_steps": ["enable report-uri"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "Refused to execute inline script because it violates the following Content Security Policy directive: script-src 'self'",
                    "page": "all pages",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Generate a nonce per request in middleware and pass it to the analytics script",
                    "rationale": "unsafe-inline would defeat the policy",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "no CSP violations in a day of reports"}),
        ],
    },
    {
        "of": "s38-nextjs-hydration-mismatch",
        "topics": {"frontend"},
        "project": "storefront_web",
        "summary": "Product prices caused a hydration warning for German visitors: the server formatted with en-US and the browser with de-DE. Prices are now formatted with the locale from the route on both sides.",
        "metadata": {
            "key_events": ["hydration warning on prices", "locale taken from the route"],
            "decisions": ["format with the route locale everywhere"],
            "outcomes": ["no warnings"],
            "next_steps": ["lint rule against toLocaleString without locale"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": 'Warning: Text content did not match. Server: "1,299.00" Client: "1.299,00"',
                    "component": "components/PriceTag.tsx",
                    "ticket": "{ticket}",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Pass the route locale to Intl.NumberFormat in PriceTag",
                    "rationale": "the browser locale differs from the server default",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "no text mismatch warnings on product pages"}),
        ],
    },
    {
        "of": "s40-checkout-zod-validation",
        "topics": {"frontend"},
        "project": "storefront_web",
        "summary": "Gift card codes pasted with spaces passed the form but the API rejected them. The shared schema now trims and upper-cases codes before validating.",
        "metadata": {
            "key_events": ["gift card codes rejected by the API"],
            "decisions": ["normalise codes in the shared schema"],
            "outcomes": ["support tickets stopped"],
            "next_steps": ["same for promo codes"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "invalid_gift_card_code returned for codes with spaces",
                    "endpoint": "POST /api/gift-cards/redeem",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Trim and upper-case the code in the shared schema transform",
                    "rationale": "client and server then see the same value",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "pasted codes redeem correctly"}),
        ],
    },
    {
        "of": "s41-airflow-backfill",
        "topics": {"data"},
        "project": "data_pipeline",
        "summary": "The partner_inventory_sync DAG failed most mornings with AirflowSensorTimeout because the partner's file lands later than the sensor waits. Switched the sensor to reschedule mode with a longer timeout.",
        "metadata": {
            "key_events": ["sensor timeouts", "reschedule mode"],
            "decisions": ["reschedule mode, 6h timeout"],
            "outcomes": ["no failed mornings"],
            "next_steps": ["alert if the file is later than noon"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "airflow.exceptions.AirflowSensorTimeout: Sensor has timed out; run duration of {n2} seconds is more than the specified timeout",
                    "task": "partner_inventory_sync.wait_for_file",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Use mode='reschedule' with a 6 hour timeout on the file sensor",
                    "rationale": "poke mode held a worker slot all morning",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "DAG green for a week"}),
        ],
    },
    {
        "of": "s42-dbt-amount-cents-break",
        "topics": {"data"},
        "project": "data_pipeline",
        "summary": "dbt model fct_shipments failed after the storefront team changed orders.shipped_at from text to timestamptz. Removed the string parsing in the staging model.",
        "metadata": {
            "key_events": ["fct_shipments failed", "column type changed upstream"],
            "decisions": ["drop the parsing in staging"],
            "outcomes": ["model green"],
            "next_steps": ["ask for schema change notices"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "Database Error in model stg_shipments: function to_timestamp(timestamp with time zone, unknown) does not exist",
                    "model": "stg_shipments",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Select shipped_at as is in stg_shipments",
                    "rationale": "the source already has the right type",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "fct_shipments builds again"}),
        ],
    },
    {
        "of": "s43-kafka-consumer-lag",
        "topics": {"kafka", "data"},
        "project": "data_pipeline",
        "summary": "The order events producer failed with RecordTooLargeException for orders with many line items. Raised the producer and topic size limits and compressed with zstd.",
        "metadata": {
            "key_events": ["RecordTooLargeException", "zstd compression"],
            "decisions": ["compress and raise limits"],
            "outcomes": ["no rejected records"],
            "next_steps": ["split huge orders into chunks"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "org.apache.kafka.common.errors.RecordTooLargeException: The message is {n2} bytes when serialized which is larger than the maximum request size",
                    "topic": "order-lifecycle",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "compression.type=zstd and max.request.size raised on the producer, max.message.bytes on the topic",
                    "rationale": "payloads compress well",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "no rejected records for {small} days"}),
        ],
    },
    {
        "of": "s51-login-rate-limit",
        "topics": {"payments"},
        "project": "payments_api",
        "summary": "Added per-merchant throttling to POST /api/refunds with a token bucket ({small} refunds a second, bursts of {n}), answering Too Many Requests with the time to wait.",
        "metadata": {
            "key_events": ["refund API rate limit"],
            "decisions": ["token bucket per merchant"],
            "outcomes": ["scripted refund floods throttled"],
            "next_steps": ["expose limits in headers"],
        },
        "events": [
            ("context_shared", {"finding": "one merchant script issued {n2} refunds in a minute"}),
            (
                "decision_made",
                {
                    "decision": "Token bucket per merchant on refunds",
                    "rationale": "protects the ledger without blocking normal use",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "floods get Too Many Requests with the time to wait"}),
        ],
    },
    {
        "of": "s52-webhook-retries",
        "topics": {"data"},
        "project": "data_pipeline",
        "summary": "Partner CSV uploads over SFTP failed when the partner host was down; added retries with a fixed delay and a failed_uploads table after the last attempt.",
        "metadata": {
            "key_events": ["SFTP upload retries"],
            "decisions": ["fixed delay, limited attempts"],
            "outcomes": ["no lost uploads"],
            "next_steps": ["alert on failed_uploads"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "paramiko.ssh_exception.NoValidConnectionsError: Unable to connect to port 22",
                    "job": "partner-sftp-sync",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Retry uploads {small} times with a fixed delay of a quarter hour, then record them in failed_uploads",
                    "rationale": "the partner's maintenance windows are short",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "uploads survive partner outages"}),
        ],
    },
    {
        "of": "s53-orders-csv-export",
        "topics": {"billing"},
        "project": "payments_api",
        "summary": "Finance's payout export opened in Excel with amounts as text and dates as serial numbers. The XLSX export now writes typed cells with number and date formats.",
        "metadata": {
            "key_events": ["payout export formatting"],
            "decisions": ["typed cells with openpyxl"],
            "outcomes": ["finance can sum columns"],
            "next_steps": ["add a totals row"],
        },
        "events": [
            ("context_shared", {"finding": "amounts were written as strings so SUM returned 0"}),
            (
                "decision_made",
                {
                    "decision": "Write amounts as numbers with a currency format and dates as date cells",
                    "rationale": "finance works in Excel",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "export opens with typed columns"}),
        ],
    },
    {
        "of": "s54-magic-link-login",
        "topics": {"auth"},
        "project": "auth_service",
        "summary": "Implemented TOTP two-factor enrolment with {small} one-time recovery codes stored hashed; enrolment requires a fresh password check.",
        "metadata": {
            "key_events": ["TOTP enrolment", "recovery codes"],
            "decisions": ["hash recovery codes"],
            "outcomes": ["2FA available to admins"],
            "next_steps": ["enforce 2FA for admins"],
        },
        "events": [
            ("task_created", {"task_id": "{ticket}", "title": "TOTP two-factor enrolment"}),
            (
                "decision_made",
                {
                    "decision": "Store recovery codes hashed with argon2, show them once",
                    "rationale": "they are passwords in effect",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "admins can enrol an authenticator app"}),
        ],
    },
    {
        "of": "s56-pytest-asyncio-loop-closed",
        "topics": {"tests"},
        "project": "payments_api",
        "summary": None,
        "metadata": {"branch": "fix/xdist-databases"},
        "events": [
            (
                "error_encountered",
                {
                    "error": 'psycopg.errors.DuplicateDatabase: database "ledger_test" already exists',
                    "command": "pytest -n 4",
                },
            ),
            ("context_shared", {"finding": "every xdist worker creates the same database name"}),
            (
                "task_updated",
                {
                    "task_id": "{ticket}",
                    "status": "in_progress",
                    "change": "suffix the test database with the xdist worker id",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "pytest -n 4 passes in {n} seconds"}),
        ],
    },
    {
        "of": "s57-mcp-stdio-print",
        "topics": {"archon"},
        "project": "archon_mcp",
        "summary": None,
        "metadata": {"client": "windows desktop"},
        "events": [
            (
                "error_encountered",
                {
                    "error": "JSONDecodeError: Expecting value: line 1 column 1 (char 0) in the client transport",
                    "platform": "Windows",
                },
            ),
            (
                "context_shared",
                {
                    "finding": "stdout in text mode on Windows turns newlines into CRLF, the client splits messages on LF"
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Reconfigure stdout to binary-safe newline handling at start-up on Windows",
                    "rationale": "the transport framing expects LF",
                },
            ),
            (
                "task_completed",
                {"task_id": "{ticket}", "result": "the memory server works from the Windows desktop client"},
            ),
        ],
    },
    {
        "of": "s61-grpc-deadline-fraud",
        "topics": {"grpc"},
        "project": "storefront_web",
        "summary": "Calls from the storefront to the inventory service failed with UNAVAILABLE during every inventory deploy. Added a retry policy in the gRPC service config and graceful shutdown on the server.",
        "metadata": {
            "key_events": ["UNAVAILABLE during deploys"],
            "decisions": ["retry policy, graceful shutdown"],
            "outcomes": ["no errors during deploys"],
            "next_steps": ["same for pricing service"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "grpc.aio.AioRpcError: status UNAVAILABLE, Connection reset by peer",
                    "call": "InventoryService/Reserve",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "retryPolicy with 3 attempts for UNAVAILABLE on idempotent inventory reads",
                    "rationale": "pods terminate while connections are open",
                },
            ),
            (
                "task_completed",
                {"task_id": "{ticket}", "result": "deploys of the inventory service cause no failed page loads"},
            ),
        ],
    },
    {
        "of": "s62-hpa-not-scaling",
        "topics": {"k8s"},
        "project": "platform_infra",
        "summary": None,
        "metadata": {"cluster": "prod-eu", "namespace": "batch"},
        "events": [
            (
                "error_encountered",
                {
                    "error": "unable to get metric http_requests_per_second: no metrics returned from custom metrics API",
                    "object": "autoscaler of edge-proxy",
                },
            ),
            (
                "context_shared",
                {"finding": "the prometheus-adapter rule matched the old metric name after the exporter upgrade"},
            ),
            (
                "decision_made",
                {
                    "decision": "Fix the adapter seriesQuery to the renamed metric",
                    "rationale": "the HPA only sees what the adapter exposes",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "HPA scales edge-proxy on request rate again"}),
        ],
    },
    {
        "of": "s63-tls-cert-expired",
        "topics": {"tls"},
        "project": "platform_infra",
        "summary": "Old Android clients failed the TLS handshake after the edge switched to an ECDSA-only certificate. Served an RSA certificate alongside for clients without ECDSA support.",
        "metadata": {
            "key_events": ["handshake failures on old Android"],
            "decisions": ["dual RSA and ECDSA certificates"],
            "outcomes": ["handshake errors gone"],
            "next_steps": ["drop RSA when old clients fade"],
        },
        "events": [
            (
                "error_encountered",
                {"error": "SSL_ERROR_NO_CYPHER_OVERLAP from Android 6 clients", "share": "{pct}% of mobile traffic"},
            ),
            (
                "decision_made",
                {
                    "decision": "Configure both an RSA and an ECDSA certificate on the edge",
                    "rationale": "old clients cannot negotiate ECDSA",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "handshake failures back to zero"}),
        ],
    },
    {
        "of": "s69-mobile-push-token-bug",
        "topics": {"mobile"},
        "project": "mobile_app",
        "summary": "Push notifications never showed on Android 13 because the app did not request the POST_NOTIFICATIONS runtime permission. Added the prompt after the first order.",
        "metadata": {
            "key_events": ["Android 13 permission missing"],
            "decisions": ["ask after the first order"],
            "outcomes": ["notifications delivered"],
            "next_steps": ["measure opt-in rate"],
        },
        "events": [
            (
                "context_shared",
                {
                    "finding": "FCM reports success but Android 13 suppresses notifications without the runtime permission"
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Request POST_NOTIFICATIONS after the first completed order",
                    "rationale": "users accept more often with context",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "opt-in prompt shipped"}),
        ],
    },
    {
        "of": "s70-mobile-release-crash",
        "topics": {"mobile"},
        "project": "mobile_app",
        "summary": "The Android release crashed on API 24 devices because the new date code used java.time without core library desugaring. Enabled desugaring and added an API 24 emulator to CI.",
        "metadata": {
            "key_events": ["NoClassDefFoundError on API 24", "desugaring enabled"],
            "decisions": ["core library desugaring"],
            "outcomes": ["no crashes on old devices"],
            "next_steps": ["raise minSdk next year"],
        },
        "events": [
            (
                "error_encountered",
                {
                    "error": "java.lang.NoClassDefFoundError: Failed resolution of: Ljava/time/LocalDate;",
                    "devices": "API 24",
                },
            ),
            (
                "decision_made",
                {
                    "decision": "Enable coreLibraryDesugaring in the app module",
                    "rationale": "keeps java.time on old devices",
                },
            ),
            ("task_completed", {"task_id": "{ticket}", "result": "release {ver} without crashes on API 24"}),
        ],
    },
]


def _sibling(rng: random.Random, spec: dict[str, Any], original: dict[str, Any], banned: set[str]) -> dict[str, Any]:
    agent = rng.choice([a for a in ("claude", "gemini", "gpt") if a != original["agent"]] + [original["agent"]])
    slots = _slots(rng, spec["project"], banned) | {k: rng.choice(v) for k, v in (spec.get("vars") or {}).items()}
    return {
        "agent": agent,
        "project_key": spec["project"],
        "summary": _fmt(spec["summary"], slots) if spec["summary"] else None,
        "metadata": _fmt(spec["metadata"], slots),
        "events": [(t, _fmt(d, slots)) for t, d in spec["events"]],
        "topics": sorted(spec["topics"]),
    }


def _place(rng: random.Random, draft: dict[str, Any], rules: list, days_ago: float | None) -> dict[str, Any] | None:
    """Give the draft a start time outside every window it must not be in: `days_ago` if given and
    allowed (else None), or a random one."""
    if days_ago is not None:
        draft["days_ago"] = days_ago
        return draft if _window_violation(draft, rules) is None else None
    for _ in range(200):
        draft["days_ago"] = round(rng.uniform(0.1, MAX_DAYS), 1)
        if _window_violation(draft, rules) is None:
            return draft
    raise RuntimeError(f"no start time fits {draft['key']}; loosen the rules or change its agent/project")


def _finish(
    rng: random.Random, key: str, draft: dict[str, Any], rules: list, days_ago: float | None = None
) -> dict[str, Any] | None:
    duration = rng.randint(20, 170)
    events = draft.pop("events")
    offsets = sorted(rng.sample(range(1, duration), len(events) - 1)) if len(events) > 1 else []
    spec = {"key": key, "agent": draft["agent"], "project_key": draft["project_key"], "days_ago": 0.0} | draft
    spec["distractor"] = True  # ignored by the seeding; lets reports tell distractor hits apart
    if any(t == "benchmark_result" for t, _ in events):
        spec["topics"] = sorted({*spec.get("topics", ()), "benchmark"})
    spec["duration_minutes"] = duration
    spec["events"] = [
        {"key": f"{key}-e{i + 1}", "event_type": t, "event_data": d, "minutes_offset": off}
        for i, ((t, d), off) in enumerate(zip(events, [0, *offsets], strict=True))
    ]
    return _place(rng, spec, rules, days_ago)


def _clean(spec: dict[str, Any], banned: set[str]) -> bool:
    """True if the spec holds no banned identifier (else the caller draws the session again)."""
    return not ({t for text in _session_texts(spec) for t in identifier_tokens(text, 2)} & banned)


def generate(dataset: dict[str, Any], n_events: int = DEFAULT_EVENTS, seed: int = SEED) -> list[dict[str, Any]]:
    """Distractor sessions (dataset shape plus `topics` and `distractor: true`) holding about `n_events` events:
    the near-duplicates first, then background work. Same output for the same arguments."""
    if n_events <= 0:
        return []
    rng = random.Random(seed)
    banned = banned_tokens(dataset)
    rules = _window_rules(dataset)
    originals = {s["key"]: s for s in dataset["sessions"]}
    out: list[dict[str, Any]] = []
    total = 0
    for i, spec in enumerate(SIBLINGS):
        if total >= n_events:
            break
        original = originals.get(spec["of"])
        if original is None:
            continue
        for _ in range(20):
            session = _finish(
                rng, f"dx{i + 1:03d}-near-{spec['of'].split('-', 1)[0]}", _sibling(rng, spec, original, banned), rules
            )
            if _clean(session, banned):
                break
        else:
            raise LeakError(f"sibling of {spec['of']} keeps leaking a dataset identifier; edit its template")
        out.append(session)
        total += len(session["events"])
    i = 0
    while total < n_events:
        i += 1
        # Half the sessions get a random start time their topic allows; the other half first get a
        # time drawn like the dataset's own (most of it in the last two weeks), then a topic, agent
        # and project that time allows, so that the recent days hold distractors too.
        days_ago = None
        if i % 2 == 0:
            near = rng.choice(dataset["sessions"])["days_ago"] + rng.uniform(-1.5, 1.5)
            days_ago = round(min(max(near, 0.1), MAX_DAYS), 1)
        for attempt in range(400):
            if attempt == 200:
                days_ago = None  # nothing fits that time (the last day or two): any allowed time
            family = rng.choice(FAMILIES)
            agent = rng.choice(AGENTS)
            project = rng.choice(family["projects"])
            draft = _background(rng, family, agent, project, banned)
            draft |= {"agent": agent, "project_key": project}
            session = _finish(rng, f"db{i:04d}-{family['name']}", draft, rules, days_ago)
            if session is not None and _clean(session, banned):
                break
        else:
            raise LeakError(f"no leak-free background session fits (last family {family['name']}); edit the templates")
        out.append(session)
        total += len(session["events"])
    check_no_leaks(dataset, out)
    return out


def with_distractors(dataset: dict[str, Any], n_events: int = DEFAULT_EVENTS, seed: int = SEED) -> dict[str, Any]:
    """A copy of the dataset with the distractor sessions appended (queries unchanged)."""
    out = copy.deepcopy(dataset)
    out["sessions"] = out["sessions"] + generate(dataset, n_events, seed)
    return out


def stats(distractors: Iterable[dict[str, Any]]) -> dict[str, Any]:
    sessions = list(distractors)
    return {
        "sessions": len(sessions),
        "events": sum(len(s["events"]) for s in sessions),
        "near_duplicates": sum(1 for s in sessions if "-near-" in s["key"]),
        "without_summary": sum(1 for s in sessions if not s["summary"]),
    }


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parent / "dataset.json").read_text())
    n = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_EVENTS
    generated = generate(data, n)
    print(json.dumps(stats(generated)))
    if "--show" in sys.argv:
        print(json.dumps(generated[:3] + generated[-2:], indent=1))
