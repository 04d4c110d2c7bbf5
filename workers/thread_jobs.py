"""The reply actor of chat threads: one turn answered over the thread's history (docs/chat-threads.md).

A reply waits, queued, until the thread's earlier turns have ended, so replies to one thread never
interleave. Its audio attachments are transcribed first, each recorded as
``reply.attachment_transcribed`` (a resumed reply does not transcribe them again). The prompt is the
system prompt, as many of the latest answered turns as the model's context holds with room for the
answer, and the message; the answer streams as ``reply.text_generated`` events, and the completed
job records the assistant's message in the thread (``thread.reply_recorded``) in the same
transaction. As for chat completions, a reply cut off mid-answer by a worker's death fails visibly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain.catalog import ModelVariant
from domain.chat_threads import (
    CATEGORY,
    THREAD_REPLY,
    AttachmentTranscribed,
    AttachmentTranscript,
    ReplyRecorded,
    Turn,
    answered_before,
)
from domain.events import deterministic_event_id
from domain.transcription import TRANSCRIPTION
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.chat_jobs import fitted_prompt, generate, stopped_mid_answer
from workers.engines.base import ChatModel, CompletionRequest, SpeechToText
from workers.transcription_jobs import stored_audio
from workflows.chat_threads import load_thread, thread_stream, unfinished_replies
from workflows.jobs import JobInputError, JobRun, to_new_event

DEFAULT_REPLY_TOKENS = 512
"""The answer's budget when the message sets no ``max_tokens``."""


def earlier_turns_pending(run: JobRun) -> str | None:
    """The job answering an earlier turn of the job's thread that has not ended, if any: for any
    job whose params name a ``thread_id`` and its ``turn`` (a thread reply, an agent turn)."""
    thread = load_thread(run.store, str(run.params.get("thread_id")))
    if thread is None:
        return None  # the job itself finds the thread gone
    waiting = unfinished_replies(run.store, thread, before=int(run.params.get("turn") or 0))
    return waiting[0] if waiting else None


def _speech_model() -> ModelVariant:
    variant = runtime.current().catalog.default("asr")
    if variant is None:
        raise JobInputError("This server has no speech-to-text model to read audio attachments.")
    return job_model(TRANSCRIPTION, variant.id, param="content_parts")


def transcribe_attachments(run: JobRun, turn: Turn) -> tuple[AttachmentTranscript, ...]:
    done = {
        int(e.data["index"]): AttachmentTranscript.model_validate(e.data)
        for e in run.kind_events(AttachmentTranscribed.verb)
    }
    for attachment in turn.attachments:
        if attachment.index in done:
            continue
        variant = _speech_model()
        engine: SpeechToText = runtime.engines().get(variant)
        try:
            audio = stored_audio(attachment.digest)
        except JobInputError as error:
            raise JobInputError(str(error), param=f"content_parts[{attachment.index}]") from error
        _info, segments = engine.transcribe(audio)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        run.append(
            AttachmentTranscribed(index=attachment.index, text=text, model=variant.id), attachment.index
        )
        done[attachment.index] = AttachmentTranscript(index=attachment.index, text=text, model=variant.id)
        run.checkpoint()
    return tuple(done[a.index] for a in turn.attachments)


@job_actor(THREAD_REPLY, waits=earlier_turns_pending)
def reply_in_thread(run: JobRun) -> dict[str, Any] | None:
    params = job_params(THREAD_REPLY, run)
    if stopped_mid_answer(run, "reply"):
        return None
    thread = load_thread(run.store, params.thread_id)
    if thread is None:
        raise JobInputError(f"The chat thread {params.thread_id} was deleted.", param="thread_id")
    variant = job_model(THREAD_REPLY, params.model, params)
    turn = thread.turn(params.turn)
    transcripts = transcribe_attachments(run, turn)
    current = replace(turn, transcripts=transcripts).user_text()
    engine: ChatModel = runtime.engines().get(variant)
    max_tokens = params.max_tokens or DEFAULT_REPLY_TOKENS
    system = params.system_prompt if params.system_prompt is not None else thread.system_prompt
    history = answered_before(thread, turn.number)
    prompt = fitted_prompt(
        engine, variant.id, system, history, current, answer_tokens=max_tokens, param="content"
    )
    request = CompletionRequest(
        messages=prompt.messages, max_tokens=max_tokens, temperature=params.temperature
    )
    generated = generate(run, engine, request)
    stats = {**generated.stats(), "finish_reason": generated.finish_reason}
    job_id = run.stream_id.partition("-")[2]
    recorded = ReplyRecorded(
        turn=turn.number,
        message_id=job_id,
        content=generated.content.strip(),
        model=variant.id,
        transcripts=transcripts,
        history_turns_used=prompt.turns_used,
        history_turns_left_out=prompt.turns_left_out,
        stats=stats,
    )
    stream = thread_stream(thread.id)
    event_id = deterministic_event_id(stream, recorded.verb, job_id)
    metadata = {**run.metadata, "causation_id": run.message_id}
    result = {"thread_id": thread.id, "model": variant.id, **recorded.payload()}
    run.complete(result, along=[(stream, to_new_event(CATEGORY, recorded, event_id, metadata))])
    return result
