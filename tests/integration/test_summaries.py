"""archon_summarize_session through a real MCP client: sampling (2026-07-28 and handshake-era clients),
a fake OpenAI-compatible chat endpoint, the extractive fallback, map-reduce and summarize-on-end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
import pytest
from mcp import Client
from mcp_types import CreateMessageResult, ErrorData, TextContent

from archon_mcp.app import open_app
from archon_mcp.server import build_server
from tests.helpers import SharedEmbedder, call, call_error, empty_tables, make_settings, seed

pytestmark = pytest.mark.anyio

GOOD = {
    "summary": "Added an HNSW index to archon_sessions and chose cosine distance for session search.",
    "key_events": ["index created", "migration written"],
    "decisions": ["HNSW over IVFFlat for recall"],
    "outcomes": ["session search under 1 ms"],
    "next_steps": ["benchmark 10k sessions"],
}

# A realistic session: tasks opened and closed by id, decisions with reasons, one unresolved error.
EXTRACTIVE_DECISIONS = [
    "Use HNSW instead of IVFFlat — better recall without training",
    "Keep cosine distance — embeddings are normalised",
]
EXTRACTIVE_OUTCOMES = ["Add pgvector HNSW index to archon_sessions (index built, queries take 0.5 ms)"]
EXTRACTIVE_NEXT = [
    "Write migration 0002",
    "Benchmark search on 10k sessions",
    "Resolve error: alembic autogenerate dropped the vector column — migration 0002",
]


def sampling_answer(answers: list[str], prompts: list[str]) -> Callable:
    """A client's model that records each prompt and answers the next canned text (the last one repeats)."""

    async def callback(context: Any, params: Any) -> CreateMessageResult | ErrorData:
        prompts.append(params.messages[0].content.text)
        answer = answers[min(len(prompts) - 1, len(answers) - 1)]
        if answer == "ERROR":
            return ErrorData(code=-1, message="the user declined the sampling request")
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text=answer), model="client-model-1"
        )

    return callback


def chat_completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-chat",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }


@asynccontextmanager
async def custom_app(
    test_db_url: str, embedder: Any, handler: Callable | None = None, **overrides: Any
) -> AsyncIterator[Any]:
    """An app with its own settings; `handler` fakes the chat endpoint through the openai client's transport."""
    if handler is not None:
        overrides.setdefault("summarizer_model", "fake-chat")
        overrides.setdefault("summarizer_base_url", "http://chat.test/v1")
    settings = make_settings(test_db_url, **overrides)
    http_client = openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(handler)) if handler else None
    try:
        async with open_app(settings, embedder=SharedEmbedder(embedder), summarizer_http_client=http_client) as app:
            yield app, settings
    finally:
        await empty_tables(test_db_url)


@asynccontextmanager
async def connect(app: Any, settings: Any, **client_options: Any) -> AsyncIterator[Any]:
    async with Client(build_server(settings, app), **client_options) as mcp_client:
        yield mcp_client


# --- extractive ---------------------------------------------------------------------------------------
async def test_extractive_summary_of_a_realistic_session(client, app) -> None:
    sid = await seed(client)
    result = await call(client, "archon_summarize_session", session_id=sid)
    assert result["method"] == "extractive" and result["model"] is None
    assert result["decisions"] == EXTRACTIVE_DECISIONS
    assert result["outcomes"] == EXTRACTIVE_OUTCOMES
    assert result["next_steps"] == EXTRACTIVE_NEXT
    assert result["key_events"][:3] == [
        "task created: Add pgvector HNSW index to archon_sessions",
        "decision: Use HNSW instead of IVFFlat",
        "task created: Write migration 0002",
    ]
    assert result["summary"].startswith("claude session with 8 events. Completed 1 task: Add pgvector HNSW index")
    assert "Still open: Write migration 0002; Benchmark search on 10k sessions." in result["summary"]
    assert [(a["method"], a["outcome"]) for a in result["attempts"]] == [
        ("sampling", "skipped"),
        ("openai", "skipped"),
        ("extractive", "used"),
    ]
    assert "did not declare" in result["attempts"][0]["detail"]
    assert result["stored"] is True and result["events_total"] == 8 and result["chunks"] == 1

    stored = await call(client, "archon_get_session", session_id=sid)
    assert stored["summary"] == result["summary"]
    meta = stored["metadata"]
    assert meta["decisions"] == EXTRACTIVE_DECISIONS and meta["outcomes"] == EXTRACTIVE_OUTCOMES
    assert meta["next_steps"] == EXTRACTIVE_NEXT and meta["key_events"] == result["key_events"]
    assert meta["summary_method"] == "extractive" and meta["summary_status"] == "done"


async def test_stored_summary_is_searchable_right_after(client) -> None:
    sid = await seed(client)
    other = await seed(client, [("task_created", {"title": "Translate the onboarding email to French"})])
    await call(client, "archon_summarize_session", session_id=sid)
    await call(client, "archon_summarize_session", session_id=other)
    found = await call(client, "archon_search_sessions", query="pgvector HNSW index on sessions", threshold=0.3)
    ids = [hit["id"] for hit in found["results"]]
    assert ids and ids[0] == sid, f"expected the HNSW session first, got {found['results']}"


async def test_preview_does_not_store(client) -> None:
    sid = await seed(client)
    result = await call(client, "archon_summarize_session", session_id=sid, store=False)
    assert result["stored"] is False and result["session"] is None
    assert (await call(client, "archon_get_session", session_id=sid))["summary"] is None


async def test_session_without_events_and_bad_arguments_are_tool_errors(client) -> None:
    empty = await call(client, "archon_create_session", agent="gpt")
    assert "no events" in await call_error(client, "archon_summarize_session", session_id=empty["id"])
    sid = await seed(client)
    assert "unknown summary method" in await call_error(
        client, "archon_summarize_session", session_id=sid, methods=["magic"]
    )
    assert "no session" in await call_error(
        client, "archon_summarize_session", session_id="00000000-0000-0000-0000-000000000000"
    )


async def test_tasks_close_by_title_and_done_status(client) -> None:
    sid = await seed(
        client,
        [
            ("task_created", {"title": "Fix login redirect"}),
            ("task_created", {"task_id": "42", "title": "Rotate API keys"}),
            ("task_completed", {"title": "fix login redirect"}),
            ("task_updated", {"task_id": "42", "status": "done"}),
            ("error_encountered", {"error": "token expired", "task_id": "99"}),
            ("error_encountered", {"error": "disk full", "resolved": True}),
        ],
    )
    result = await call(client, "archon_summarize_session", session_id=sid, store=False)
    assert result["outcomes"] == ["fix login redirect"]
    assert result["next_steps"] == ["Resolve error: token expired"]


# --- MCP sampling -------------------------------------------------------------------------------------
async def test_sampling_client_writes_the_summary(app, settings) -> None:
    prompts: list[str] = []
    async with connect(app, settings, sampling_callback=sampling_answer([json.dumps(GOOD)], prompts)) as client:
        sid = await seed(client)
        result = await call(client, "archon_summarize_session", session_id=sid)
        assert result["method"] == "sampling" and result["model"] == "client-model-1"
        assert {k: result[k] for k in GOOD} == GOOD
        assert len(prompts) == 1 and "Use HNSW instead of IVFFlat" in prompts[0]
        stored = await call(client, "archon_get_session", session_id=sid)
        assert stored["summary"] == GOOD["summary"]
        assert stored["metadata"]["decisions"] == GOOD["decisions"]
        assert stored["metadata"]["summary_method"] == "sampling"


@pytest.mark.parametrize(
    "answer",
    [
        "Sure! The session went well.",
        '{"summary": "", "decisions": []}',
        '{"summary": "A fine summary of the work", "decisions": "not a list"}',
        "ERROR",
    ],
    ids=["prose", "empty-summary", "wrong-types", "client-refuses"],
)
async def test_bad_sampling_answer_falls_back_to_extractive(app, settings, answer) -> None:
    prompts: list[str] = []
    async with connect(app, settings, sampling_callback=sampling_answer([answer], prompts), mode="legacy") as client:
        sid = await seed(client)
        result = await call(client, "archon_summarize_session", session_id=sid)
        assert prompts, "the client's model was never asked"
        assert result["method"] == "extractive"
        assert result["attempts"][0]["method"] == "sampling" and result["attempts"][0]["outcome"] == "failed"
        stored = await call(client, "archon_get_session", session_id=sid)
        assert stored["summary"] == result["summary"] and stored["metadata"]["decisions"] == EXTRACTIVE_DECISIONS


async def test_bad_sampling_answer_falls_back_on_2026_clients_too(app, settings) -> None:
    prompts: list[str] = []
    async with connect(app, settings, sampling_callback=sampling_answer(["{not json}"], prompts)) as client:
        sid = await seed(client)
        result = await call(client, "archon_summarize_session", session_id=sid)
        assert len(prompts) == 1
        assert result["method"] == "extractive" and result["attempts"][0]["outcome"] == "failed"
        assert "not valid JSON" in result["attempts"][0]["detail"]
        assert (await call(client, "archon_get_session", session_id=sid))["summary"] == result["summary"]


async def test_handshake_era_client_is_sampled_mid_call(app, settings) -> None:
    prompts: list[str] = []
    callback = sampling_answer([json.dumps(GOOD)], prompts)
    async with connect(app, settings, sampling_callback=callback, mode="legacy") as client:
        sid = await seed(client)
        result = await call(client, "archon_summarize_session", session_id=sid)
        assert result["method"] == "sampling" and result["model"] == "client-model-1"
        assert result["summary"] == GOOD["summary"] and len(prompts) == 1


async def test_methods_argument_skips_sampling(app, settings) -> None:
    prompts: list[str] = []
    async with connect(app, settings, sampling_callback=sampling_answer([json.dumps(GOOD)], prompts)) as client:
        sid = await seed(client)
        result = await call(client, "archon_summarize_session", session_id=sid, methods=["extractive"])
        assert result["method"] == "extractive" and prompts == []


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_long_session_is_map_reduced_with_bounded_calls(test_db_url, local_embedder, mode) -> None:
    events = [("task_created", {"task_id": f"T{i}", "title": f"step {i} of the data import"}) for i in range(60)]
    partial = dict(GOOD, summary="One part of the data import session, steps logged.")
    final = dict(GOOD, summary="Imported the data in sixty logged steps, merged from three parts.")
    prompts: list[str] = []
    answers = [json.dumps(partial)] * 3 + [json.dumps(final)]
    async with custom_app(test_db_url, local_embedder, summarizer_chunk_chars=600, summarizer_max_chunks=3) as (
        app,
        settings,
    ):
        async with connect(app, settings, sampling_callback=sampling_answer(answers, prompts), mode=mode) as client:
            sid = await seed(client, events)
            result = await call(client, "archon_summarize_session", session_id=sid)
    assert result["method"] == "sampling" and result["summary"] == final["summary"]
    assert result["chunks"] == 3 and result["events_total"] == 60
    assert len(prompts) == 4, "three map calls and one reduce call, no more"
    assert all("part" in p and "of 3" in p for p in prompts[:3])
    assert "step 0 of the data import" in prompts[0] and "step 59 of the data import" in prompts[2]
    assert "left out" in prompts[0], "the prompt says that middle events were dropped"
    assert "Summaries of its 3 parts" in prompts[3]


# --- OpenAI-compatible chat model ---------------------------------------------------------------------
async def test_chat_model_writes_the_summary_with_json_schema(test_db_url, local_embedder) -> None:
    requests: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(json.loads(request.content))
        return httpx2.Response(200, json=chat_completion(json.dumps(GOOD)))

    async with custom_app(test_db_url, local_embedder, handler) as (app, settings):
        async with connect(app, settings) as client:
            sid = await seed(client)
            result = await call(client, "archon_summarize_session", session_id=sid)
            stored = await call(client, "archon_get_session", session_id=sid)
    assert result["method"] == "openai" and result["model"] == "fake-chat"
    assert stored["summary"] == GOOD["summary"] and stored["metadata"]["next_steps"] == GOOD["next_steps"]
    body = requests[0]
    assert body["model"] == "fake-chat"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == [
        "summary",
        "key_events",
        "decisions",
        "outcomes",
        "next_steps",
    ]
    assert "Keep cosine distance" in body["messages"][1]["content"]


def _timeout(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("handler", "detail"),
    [
        (lambda r: httpx2.Response(200, json=chat_completion("I could not summarise this.")), "no JSON object"),
        (lambda r: httpx2.Response(200, json=chat_completion('{"summary": 5}')), "did not match"),
        (lambda r: httpx2.Response(500, json={"error": {"message": "overloaded"}}), "overloaded"),
        (_timeout, "timed out"),
    ],
    ids=["prose", "wrong-schema", "server-error", "timeout"],
)
async def test_bad_chat_answer_falls_back_and_stores_no_garbage(test_db_url, local_embedder, handler, detail) -> None:
    async with custom_app(test_db_url, local_embedder, handler) as (app, settings):
        async with connect(app, settings) as client:
            sid = await seed(client)
            result = await call(client, "archon_summarize_session", session_id=sid)
            stored = await call(client, "archon_get_session", session_id=sid)
    assert result["method"] == "extractive"
    openai_attempt = result["attempts"][1]
    assert openai_attempt["method"] == "openai" and openai_attempt["outcome"] == "failed"
    assert detail in openai_attempt["detail"].lower() or detail in openai_attempt["detail"]
    assert stored["summary"] == result["summary"] and stored["metadata"]["summary_method"] == "extractive"
    assert stored["metadata"]["decisions"] == EXTRACTIVE_DECISIONS


async def test_bad_sampling_then_good_chat_model(test_db_url, local_embedder) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=chat_completion(json.dumps(GOOD)))

    prompts: list[str] = []
    async with custom_app(test_db_url, local_embedder, handler) as (app, settings):
        async with connect(app, settings, sampling_callback=sampling_answer(["nope"], prompts)) as client:
            sid = await seed(client)
            result = await call(client, "archon_summarize_session", session_id=sid)
    assert [(a["method"], a["outcome"]) for a in result["attempts"]] == [("sampling", "failed"), ("openai", "used")]
    assert result["summary"] == GOOD["summary"]


# --- summarize on end ---------------------------------------------------------------------------------
async def test_end_session_summarizes_in_the_background(test_db_url, local_embedder) -> None:
    async with custom_app(test_db_url, local_embedder, summarize_on_end=True) as (app, settings):
        async with connect(app, settings) as client:
            sid = await seed(client)
            ended = await call(client, "archon_end_session", session_id=sid)
            assert ended["summary"] is None and ended["is_active"] is False
            assert ended["metadata"]["summary_status"] == "pending"
            await app.summaries.wait_background()
            stored = await call(client, "archon_get_session", session_id=sid)
            assert stored["metadata"]["summary_status"] == "done"
            assert stored["metadata"]["summary_method"] == "extractive"
            assert stored["metadata"]["next_steps"] == EXTRACTIVE_NEXT
            assert stored["summary"].startswith("claude session with 8 events")
            found = await call(client, "archon_search_sessions", query="HNSW index for pgvector", threshold=0.3)
            assert sid in [hit["id"] for hit in found["results"]]

            given = await seed(client)
            ended = await call(client, "archon_end_session", session_id=given, summary="Wrote it myself")
            assert "summary_status" not in ended["metadata"] and ended["summary"] == "Wrote it myself"
            empty = await call(client, "archon_create_session", agent="claude")
            ended = await call(client, "archon_end_session", session_id=empty["id"])
            assert "summary_status" not in ended["metadata"], "nothing to summarise: not marked pending"
            await app.summaries.wait_background()
            assert (await call(client, "archon_get_session", session_id=given))["summary"] == "Wrote it myself"


async def test_background_summary_uses_the_chat_model(test_db_url, local_embedder) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=chat_completion(json.dumps(GOOD)))

    async with custom_app(test_db_url, local_embedder, handler, summarize_on_end=True) as (app, settings):
        async with connect(app, settings) as client:
            sid = await seed(client)
            await call(client, "archon_end_session", session_id=sid)
            await app.summaries.wait_background()
            stored = await call(client, "archon_get_session", session_id=sid)
    assert stored["summary"] == GOOD["summary"]
    assert stored["metadata"]["summary_method"] == "openai" and stored["metadata"]["summary_status"] == "done"


async def test_summarize_on_end_is_off_by_default(client, app) -> None:
    sid = await seed(client)
    ended = await call(client, "archon_end_session", session_id=sid)
    await app.summaries.wait_background()
    assert "summary_status" not in ended["metadata"]
    assert (await call(client, "archon_get_session", session_id=sid))["summary"] is None
