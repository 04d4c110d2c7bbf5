"""The summary actor: a record's transcript summarised by a chat model, streamed into events.

``summarize_record(stream_id)`` is a plain actor, not a job: the summary lives on the record's
stream beside the job (``summary_requested`` → ``summary_generated``… → ``summary_completed`` or
``summary_failed``, docs/speech-to-text-records.md). It works on the latest summary asked for and
does nothing once that one has an outcome, so a redelivered message is harmless. Sampling is not
repeatable: a redelivery that finds part of a summary already written fails it visibly instead of
appending a second, different text.

A transcript longer than the model's context is summarised part by part, and the parts' summaries
are then merged; only the final answer is streamed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dramatiq.middleware import CurrentMessage

from domain.events import DomainEvent, deterministic_event_id
from domain.generation import CHAT
from domain.stt_records import RecordDeleted
from domain.summaries import (
    ACTOR,
    PendingSummary,
    SummaryCompleted,
    SummaryFailed,
    SummaryGenerated,
    SummaryRequested,
    combine_messages,
    pack,
    pending_summary,
    split_transcript,
    summary_messages,
    summary_source,
)
from eventstore.base import EventStore
from workers import runtime
from workers.actors import message_actor
from workers.chat_jobs import FLUSH_SECONDS
from workers.engines.base import ChatModel, CompletionRequest
from workflows.jobs import JobRun, to_new_event
from workflows.summaries import request_summary

log = logging.getLogger(__name__)

SUMMARY_TOKENS = 320
PARTIAL_TOKENS = 200
TEMPERATURE = 0.2
DEFAULT_CONTEXT_TOKENS = 4096
PROMPT_TOKENS = 200
"""Room for the instructions and the chat template around the transcript."""
CHARS_PER_TOKEN = 3
"""Conservative: English text averages about four characters a token."""


class SummaryUnavailable(Exception):
    """The summary cannot be written (no transcript, no such model): recorded as failed."""


# --- asking for one (from the transcription and diarization actors) ----------------------


def request_record_summary(run: JobRun) -> None:
    """Ask for the record's summary at the end of a run, once: a redelivered job that already
    asked does not ask again."""
    if run.kind_events(SummaryRequested.verb):
        return
    rt = runtime.current()
    model = rt.catalog.default("chat")
    if rt.dispatcher is None or model is None:
        raise RuntimeError("this worker cannot ask for summaries (no dispatcher or no chat model)")
    metadata = {**run.metadata, "causation_id": run.message_id}
    request_summary(rt.store, rt.dispatcher, run.stream_id, model.id, metadata)


# --- writing one -------------------------------------------------------------------------


@dataclass
class SummaryWriter:
    """Appends one summary's events with ids made of its summary id (and batch number)."""

    store: EventStore
    stream_id: str
    summary_id: str
    message_id: str
    sequence: int = 0

    def _append(self, event: DomainEvent, *id_parts: object) -> None:
        event_id = deterministic_event_id(self.stream_id, "summary", self.summary_id, event.verb, *id_parts)
        metadata = {"correlation_id": self.stream_id, "causation_id": self.message_id}
        category = self.stream_id.split("-", 1)[0]
        self.store.append(self.stream_id, [to_new_event(category, event, event_id, metadata)])

    def delta(self, text: str) -> None:
        if text:
            self._append(
                SummaryGenerated(summary_id=self.summary_id, sequence=self.sequence, text=text), self.sequence
            )
            self.sequence += 1

    def complete(self, summary: str, model: str) -> None:
        self._append(SummaryCompleted(summary_id=self.summary_id, summary=summary, model=model))

    def fail(self, error: str) -> None:
        self._append(SummaryFailed(summary_id=self.summary_id, error=error))


def _request(messages: list[dict[str, str]], max_tokens: int) -> CompletionRequest:
    return CompletionRequest(messages=messages, max_tokens=max_tokens, temperature=TEMPERATURE)


def _answer(engine: ChatModel, messages: list[dict[str, str]]) -> str:
    """A whole answer, not streamed (a part's summary)."""
    return "".join(chunk.text for chunk in engine.complete(_request(messages, PARTIAL_TOKENS))).strip()


def _stream(engine: ChatModel, messages: list[dict[str, str]], writer: SummaryWriter) -> str:
    """The final answer, its deltas batched into ``summary_generated`` events."""
    pieces: list[str] = []
    pending: list[str] = []
    last_flush = time.perf_counter()
    chunks = engine.complete(_request(messages, SUMMARY_TOKENS))
    try:
        for chunk in chunks:
            pieces.append(chunk.text)
            pending.append(chunk.text)
            if time.perf_counter() - last_flush >= FLUSH_SECONDS:
                writer.delta("".join(pending))
                pending.clear()
                last_flush = time.perf_counter()
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    writer.delta("".join(pending))
    return "".join(pieces).strip()


def _final_messages(engine: ChatModel, source: str, max_chars: int) -> list[dict[str, str]]:
    """The messages for the final answer: the transcript itself, or its parts' summaries."""
    parts = split_transcript(source, max_chars)
    if len(parts) == 1:
        return summary_messages(parts[0])
    partials = [_answer(engine, summary_messages(part)) for part in parts]
    while len("\n\n".join(partials)) > max_chars:
        groups = pack(partials, max_chars, separator="\n\n")
        if len(groups) == len(partials):
            break  # the summaries no longer shrink: the model's context cuts the rest
        partials = [_answer(engine, combine_messages(group)) for group in groups]
    return combine_messages(partials)


def _chat_engine(model: str) -> ChatModel:
    variant = runtime.current().catalog.find(model)
    if variant is None or CHAT.refusal(variant, CHAT.capability) is not None:
        raise SummaryUnavailable(f"Model {model!r} is not a chat model this server knows.")
    engine: ChatModel = runtime.engines().get(variant)
    return engine


def write_summary(
    pending: PendingSummary, events: Sequence[tuple[str, dict[str, Any]]], writer: SummaryWriter
) -> None:
    if pending.generated:
        writer.fail(
            "The worker stopped in the middle of writing this summary; the partial text is kept in "
            "the record's events. Ask for the summary again."
        )
        return
    try:
        source = summary_source(events)
        if not source.strip():
            raise SummaryUnavailable("The record has no transcript to summarise.")
        engine = _chat_engine(pending.model)
        context = int(getattr(engine, "context_length", DEFAULT_CONTEXT_TOKENS))
        max_chars = max(1000, (context - SUMMARY_TOKENS - PROMPT_TOKENS) * CHARS_PER_TOKEN)
        summary = _stream(engine, _final_messages(engine, source, max_chars), writer)
    except SummaryUnavailable as error:
        writer.fail(str(error))
        return
    except Exception as error:  # whatever the engine raised: recorded, never retried onto the job
        log.exception("the summary %s of %s failed", pending.summary_id, writer.stream_id)
        writer.fail(f"The summary could not be generated: {type(error).__name__}: {error}")
        return
    writer.complete(summary, pending.model)


@message_actor(ACTOR)
def summarize_record(stream_id: str) -> None:
    rt = runtime.current()
    events = [(event.type, event.data) for event in rt.store.read_stream(stream_id)]
    if any(event_type.partition(".")[2] == RecordDeleted.verb for event_type, _ in events):
        return
    pending = pending_summary(events)
    if pending is None:
        return
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message is not None else stream_id
    write_summary(pending, events, SummaryWriter(rt.store, stream_id, pending.summary_id, message_id))
