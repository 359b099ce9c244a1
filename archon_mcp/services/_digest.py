"""What a summary is made from: the extractive digest of a session's events (offline, no model), and for
a chat model the prompts and the chunking of long sessions (map, then reduce)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from archon_mcp.embeddings import event_text
from archon_mcp.models import AgentSession
from archon_mcp.services._event_analysis import EventRecord, analyze_events
from archon_mcp.services.summary_format import (
    MAX_ITEMS,
    SYSTEM_PROMPT,
    ChatModel,
    SummaryDraft,
    SummaryFormatError,
    parse_draft,
)


def _some(items: Sequence[str], limit: int = 3) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def extractive_summary(session: AgentSession, events: Sequence[EventRecord], total: int) -> SummaryDraft:
    """A deterministic digest of the events: always available, offline."""
    facts = analyze_events(events)
    decisions = [text for text, _ in facts.decisions]
    outcomes = [text for text, _ in facts.completed]
    errors = [text for text, _ in facts.errors]
    next_steps = [task.title for task in facts.open_tasks]
    next_steps += [f"Resolve error: {text}" for text, _ in facts.unresolved_errors]
    sentences = [f"{session.agent} session with {total} event{'s' if total != 1 else ''}."]
    if outcomes:
        sentences.append(f"Completed {len(outcomes)} task{'s' if len(outcomes) != 1 else ''}: {_some(outcomes)}.")
    if decisions:
        sentences.append(f"Decided: {_some(decisions)}.")
    if errors:
        sentences.append(f"Errors: {_some(errors)}.")
    if facts.open_tasks:
        sentences.append(f"Still open: {_some([t.title for t in facts.open_tasks])}.")
    if not (outcomes or decisions or errors or facts.open_tasks):
        kinds = sorted({e.event_type.replace("_", " ") for e in events})
        sentences.append(f"Logged: {_some(kinds, 6)}.")
    key_events = facts.key_events
    if len(key_events) > MAX_ITEMS:  # keep the start and the end of a long session
        key_events = key_events[: MAX_ITEMS // 2] + key_events[-(MAX_ITEMS - MAX_ITEMS // 2) :]
    return SummaryDraft(
        summary=" ".join(sentences),
        key_events=key_events,
        decisions=decisions[-MAX_ITEMS:],
        outcomes=outcomes[-MAX_ITEMS:],
        next_steps=next_steps[:MAX_ITEMS],
    )


# --- prompts ------------------------------------------------------------------------------------------
@dataclass
class SummaryMaterial:
    """A session's events rendered for a model, cut into at most `max_chunks` chunks."""

    session: AgentSession
    events: Sequence[EventRecord]
    total: int
    chunks: list[str]
    omitted: int  # events not read, or in chunks that were dropped

    @property
    def header(self) -> str:
        ended = self.session.ended_at.isoformat() if self.session.ended_at else "still active"
        head = f"Session {self.session.id} by agent {self.session.agent}, started {self.session.started_at.isoformat()}"
        note = f", {self.omitted} events from the middle left out" if self.omitted else ""
        return f"{head}, ended {ended}; {self.total} events{note}."

    def single_prompt(self) -> str:
        return f"{self.header}\nEvents, oldest first:\n{self.chunks[0]}\n\nSummarise this session as JSON."

    def map_prompt(self, index: int) -> str:
        return (
            f"{self.header}\nThis is part {index + 1} of {len(self.chunks)} of its events, oldest first:\n"
            f"{self.chunks[index]}\n\nSummarise this part as JSON."
        )

    def reduce_prompt(self, partials: Sequence[SummaryDraft]) -> str:
        parts = "\n".join(
            f"Part {i + 1}: {json.dumps(p.model_dump(), ensure_ascii=False)}" for i, p in enumerate(partials)
        )
        return (
            f"{self.header}\nSummaries of its {len(partials)} parts, in order:\n{parts}\n\n"
            "Merge them into one summary of the whole session as JSON. A task opened in one part and "
            "finished in a later part is an outcome, not a next step."
        )


def event_line(event: EventRecord, max_chars: int) -> str:
    when = event.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"- {when} {event_text(event.event_type, event.event_data, max_chars)}"


def chunk_lines(lines: Sequence[str], chunk_chars: int, max_chunks: int) -> tuple[list[list[int]], int]:
    """Line indexes grouped into chunks of about `chunk_chars`; when there are more than `max_chunks`,
    keep evenly spaced ones (always the first and the last). Returns (chunks, lines dropped)."""
    chunks: list[list[int]] = [[]]
    size = 0
    for i, line in enumerate(lines):
        if chunks[-1] and size + len(line) + 1 > chunk_chars:
            chunks.append([])
            size = 0
        chunks[-1].append(i)
        size += len(line) + 1
    if len(chunks) <= max_chunks:
        return chunks, 0
    if max_chunks == 1:
        keep = [0]
    else:
        step = (len(chunks) - 1) / (max_chunks - 1)
        keep = sorted({round(k * step) for k in range(max_chunks)})
    kept = [chunks[k] for k in keep]
    return kept, len(lines) - sum(len(c) for c in kept)


async def map_reduce(chat: ChatModel, material: SummaryMaterial) -> SummaryDraft:
    """One call when the events fit, else one per chunk plus one to merge: at most max_chunks + 1."""
    if len(material.chunks) == 1:
        return parse_draft(await chat(SYSTEM_PROMPT, material.single_prompt()))
    partials = []
    for index in range(len(material.chunks)):
        try:
            partials.append(parse_draft(await chat(SYSTEM_PROMPT, material.map_prompt(index))))
        except SummaryFormatError as exc:
            raise SummaryFormatError(f"part {index + 1} of {len(material.chunks)}: {exc}") from exc
    return parse_draft(await chat(SYSTEM_PROMPT, material.reduce_prompt(partials)))
