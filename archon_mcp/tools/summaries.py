"""archon_summarize_session: the summary operation plus MCP sampling of the client's own model.

MCP sampling reaches the client's model in one of two ways. A handshake-era client (protocol up to
2025-11-25) is asked mid-call, so the service drives map-reduce itself and any failure falls through
to the next method. A 2026-07-28 client is asked through the SDK's resolvers: the server answers
`input_required`, the client samples and retries, and the tool body runs with the answers. The map
step is a fixed set of resolvers (one per possible chunk) and the reduce step a resolver over them.
"""

import inspect
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Resolve, Sample
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import CreateMessageResult, SamplingMessage, TextContent
from mcp_types.version import is_version_at_least

from archon_mcp.config import Settings
from archon_mcp.errors import ArchonError
from archon_mcp.operations import Sampling, summarize_session
from archon_mcp.schemas import SessionSummary, SummarizeSessionRequest
from archon_mcp.services.summary_format import SYSTEM_PROMPT, SampledAnswer, SummaryFormatError, parse_draft
from archon_mcp.tools._runtime import WRITE, app_of, register_tool

if TYPE_CHECKING:
    from archon_mcp.app import AppContext
    from archon_mcp.services._digest import SummaryMaterial

_INPUT_REQUIRED_VERSION = "2026-07-28"


@dataclass
class SamplingPlan:
    material: "SummaryMaterial | None"
    reason: str  # why there is nothing to sample, when material is None
    direct: bool = False  # handshake-era client: the tool body asks it mid-call


@dataclass
class SamplingSkip:
    reason: str
    failed: bool = False


def _sample(prompt: str, settings: Settings) -> Sample:
    return Sample(
        [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=settings.summarizer_max_tokens,
        system_prompt=SYSTEM_PROMPT,
        temperature=0.0,
    )


def _answer_text(result: CreateMessageResult) -> str:
    content = result.content
    blocks = content if isinstance(content, list) else [content]
    return "".join(getattr(block, "text", "") for block in blocks)


def _declares_sampling(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.sampling is not None


def _uses_input_required(ctx: Context) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION)


async def sampling_plan(ctx: Context, session_id: Any, methods: Any) -> SamplingPlan:
    """Whether to sample, and the events to sample over (read once per round)."""
    app = await app_of(ctx)
    try:
        request = SummarizeSessionRequest.parse(app.settings, session_id=session_id, methods=methods)
        wanted = "sampling" in app.summaries.order(request.methods)
    except ArchonError as exc:
        return SamplingPlan(None, str(exc))  # the tool body reports it
    if not wanted:
        return SamplingPlan(None, "not requested")
    if not _declares_sampling(ctx):
        return SamplingPlan(None, "the client did not declare the MCP sampling capability")
    if not _uses_input_required(ctx):
        return SamplingPlan(None, "", direct=bool(ctx.session.can_send_request))
    try:
        material = await app.summaries.material(request.session_id)
    except ArchonError as exc:
        return SamplingPlan(None, str(exc))
    return SamplingPlan(material, "")


def _part_resolver(index: int, settings: Settings) -> Any:
    async def sample_part(plan: Annotated[SamplingPlan, Resolve(sampling_plan)]) -> Sample | None:
        material = plan.material
        if material is None or len(material.chunks) < 2 or index >= len(material.chunks):
            return None
        return _sample(material.map_prompt(index), settings)

    sample_part.__qualname__ = f"sample_part_{index}"
    return sample_part


def _whole_resolver(settings: Settings) -> Any:
    """The reduce step: one resolver over the plan and every part (a fixed signature per setting)."""
    parts = [_part_resolver(k, settings) for k in range(settings.summarizer_max_chunks)]

    async def sample_whole(plan: SamplingPlan, **answers: CreateMessageResult | None) -> Sample | SamplingSkip:
        material = plan.material
        if material is None:
            return SamplingSkip("direct" if plan.direct else plan.reason)
        if len(material.chunks) == 1:
            return _sample(material.single_prompt(), settings)
        partials = []
        for index in range(len(material.chunks)):
            answer = answers.get(f"part_{index}")
            try:
                partials.append(parse_draft(_answer_text(answer) if answer is not None else None))
            except SummaryFormatError as exc:
                detail = f"the client's model answered part {index + 1} of {len(material.chunks)} badly: {exc}"
                return SamplingSkip(detail, failed=True)
        return _sample(material.reduce_prompt(partials), settings)

    params = [
        inspect.Parameter(
            "plan", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[SamplingPlan, Resolve(sampling_plan)]
        )
    ]
    params += [
        inspect.Parameter(
            f"part_{k}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[CreateMessageResult | None, Resolve(part)],
        )
        for k, part in enumerate(parts)
    ]
    sample_whole.__signature__ = inspect.Signature(params, return_annotation=Sample | SamplingSkip)  # type: ignore[attr-defined]
    sample_whole.__annotations__ = {p.name: p.annotation for p in params} | {"return": Sample | SamplingSkip}
    return sample_whole


class DirectSampler:
    """Asks a handshake-era client's model mid-call (a ChatModel for the service's map-reduce)."""

    def __init__(self, ctx: Context, settings: Settings) -> None:
        self._ctx = ctx
        self._max_tokens = settings.summarizer_max_tokens
        self.model: str | None = None

    async def __call__(self, system: str, user: str) -> str:
        with warnings.catch_warnings():
            # Deprecated from 2026-07-28 on, and used only for the older clients that still need it.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result = await self._ctx.session.create_message(
                [SamplingMessage(role="user", content=TextContent(type="text", text=user))],
                max_tokens=self._max_tokens,
                system_prompt=system,
                temperature=0.0,
                related_request_id=self._ctx.request_id,
            )
        self.model = result.model
        return _answer_text(result)


SUMMARIZE_DESCRIPTION = """Summarise a session (active or ended) from its events: `summary` plus `key_events`,
    `decisions`, `outcomes` and `next_steps`, saved like archon_update_session_summary (metadata
    merged, re-embedded so archon_search_sessions finds it). `method` says who wrote it: sampling
    (your own model, when your client supports MCP sampling), openai (the server's chat model) or
    extractive (from the events, offline). A bad model answer falls back to the next method and is
    never stored; `attempts` lists what was tried. Long sessions are summarised in parts."""


def _sampling(ctx: Context, settings: Settings, sampled: CreateMessageResult | SamplingSkip | None) -> Sampling:
    """What the tool learned from MCP sampling, for SummaryService.summarize."""
    if isinstance(sampled, SamplingSkip):
        if sampled.reason == "direct":
            return Sampling(sampler=DirectSampler(ctx, settings))
        if sampled.failed:
            return Sampling(answer=SampledAnswer(None, sampled.reason))
        return Sampling(unavailable=sampled.reason)
    if sampled is None:
        return Sampling()
    try:
        draft = parse_draft(_answer_text(sampled))
        return Sampling(answer=SampledAnswer(draft, sampled.model or "the client's model", sampled.model))
    except SummaryFormatError as exc:
        return Sampling(answer=SampledAnswer(None, f"the client's model answered badly: {exc}"))


def register(server: MCPServer, settings: Settings) -> None:
    sample_whole = _whole_resolver(settings)

    async def call(
        app: "AppContext", request: SummarizeSessionRequest, ctx: Context, *, sampled: Any = None
    ) -> SessionSummary:
        return await summarize_session(app, request, _sampling(ctx, settings, sampled))

    register_tool(
        server,
        settings,
        SummarizeSessionRequest,
        call,
        name="archon_summarize_session",
        description=SUMMARIZE_DESCRIPTION,
        output=SessionSummary,
        annotations=WRITE,
        extra=[
            inspect.Parameter(
                "sampled",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[CreateMessageResult | SamplingSkip, Resolve(sample_whole)],
            )
        ],
    )
