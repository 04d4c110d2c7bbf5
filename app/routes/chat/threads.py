"""Chat threads (``/v1/chat/threads``): durable conversations, each a ``thread-<id>`` stream; a
message sent is answered by a ``reply-<id>`` job over the thread's history (docs/chat-threads.md).

The list reads the ``chat_threads`` read model; a thread and its messages are folded from its
stream. A reply keeps going when the client that asked for it goes away: the thread records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any

from quart import Blueprint, current_app, jsonify
from sqlalchemy import Engine, select

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, error_event, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.pagination import newest_first_page
from app.http.request_body import receive_body, request_body
from app.http.sse import sse_frame, sse_response
from app.projections.media_object_queries import find_object
from app.projections.pages import newest_first
from app.projections.tables import chat_threads, jobs
from app.routes.chat.bodies import ThreadMessageBody, ThreadSettingsBody
from app.routes.chat.requests import check_parts
from domain.capabilities import Capability
from domain.chat_threads import (
    BASE_URL,
    CATEGORY,
    DEFAULT_TITLE,
    MAX_ATTACHMENTS,
    MAX_CONTENT_CHARS,
    MESSAGE_OBJECT,
    THREAD_OBJECT,
    Attachment,
    Thread,
    ThreadChanged,
    ThreadCreated,
    ThreadReplyParams,
    Turn,
)
from domain.events import new_id
from domain.fields import FieldError
from domain.generation import TEXT_PART_TYPES, is_text_generated
from domain.media_paths import media_path
from eventstore.base import NO_STREAM, EventStore
from eventstore.db import read_transaction
from workflows.chat_threads import (
    change_thread,
    delete_thread,
    existing_thread,
    send_message,
    thread_stream,
)
from workflows.jobs import to_new_event

blueprint = Blueprint("chat_threads", __name__)
THREAD = f"{BASE_URL}/<thread_id>"
MEDIA_URL = "/v1/media/"
AUDIO_PART_TYPES = ("audio_url", "input_audio", "audio")
WHAT = "chat threads"


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


async def _thread(thread_id: str) -> Thread:
    return await asyncio.to_thread(existing_thread, _container().store, thread_id)


async def _model(requested: object) -> str | None:
    if requested is None or requested == "":
        return None
    variant = await resolve_model(_container(), requested, Capability.OPENAI_CHAT_COMPLETIONS, what=WHAT)
    return variant.id


# --- JSON -------------------------------------------------------------------------------------


def _reply_statuses(engine: Engine, thread: Thread) -> dict[str, dict[str, Any]]:
    """The jobs of the turns not answered (yet): their status and error, by job id."""
    waiting = {turn.reply_stream: turn.reply_job_id for turn in thread.turns if turn.reply is None}
    if not waiting:
        return {}
    query = select(jobs.c.stream_id, jobs.c.status, jobs.c.error).where(jobs.c.stream_id.in_(list(waiting)))
    with read_transaction(engine) as connection:
        rows = connection.execute(query).all()
    return {waiting[row.stream_id]: {"status": row.status, "error": row.error} for row in rows}


def _user_message(thread_id: str, turn: Turn, reply: Mapping[str, Any] | None = None) -> dict[str, Any]:
    heard = {t.index: t.text for t in turn.transcripts}
    return {
        "id": turn.message_id,
        "object": MESSAGE_OBJECT,
        "thread_id": thread_id,
        "turn": turn.number,
        "role": "user",
        "content": turn.content,
        "attachments": [
            {
                "index": a.index,
                "type": a.kind,
                "path": a.path,
                "url": MEDIA_URL + urllib.parse.quote(a.path),
                "content_type": a.content_type,
                "transcript": heard.get(a.index),
            }
            for a in turn.attachments
        ],
        "created_at": int(turn.sent_at),
        "reply": {"job_id": turn.reply_job_id, **(reply or {"status": "completed", "error": None})},
    }


def _assistant_message(thread_id: str, turn: Turn) -> dict[str, Any]:
    reply = turn.reply
    assert reply is not None
    return {
        "id": reply.message_id,
        "object": MESSAGE_OBJECT,
        "thread_id": thread_id,
        "turn": turn.number,
        "role": "assistant",
        "content": reply.content,
        "model_id": reply.model,
        "created_at": int(reply.recorded_at),
        "history_turns_used": reply.history_turns_used,
        "history_turns_left_out": reply.history_turns_left_out,
        "stats": dict(reply.stats),
    }


def _messages(thread: Thread, statuses: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    for turn in thread.turns:
        reply = None if turn.reply else statuses.get(turn.reply_job_id, {"status": "queued", "error": None})
        shown.append(_user_message(thread.id, turn, reply))
        if turn.reply is not None:
            shown.append(_assistant_message(thread.id, turn))
    return shown


def _thread_json(thread: Thread, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": thread.id,
        "object": THREAD_OBJECT,
        "title": thread.title or DEFAULT_TITLE,
        "model_id": thread.model,
        "system_prompt": thread.system_prompt,
        "agent_session_id": thread.agent_session_id,
        "message_count": sum(1 + (t.reply is not None) for t in thread.turns),
        "created_at": int(thread.created_at),
        "updated_at": int(thread.updated_at),
    }
    if messages is not None:
        shown["messages"] = messages
    return shown


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": THREAD_OBJECT,
        "title": row["title"],
        "model_id": row["model"],
        "message_count": row["message_count"],
        "last_message": row["last_message"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
    }


async def _full_json(thread: Thread) -> dict[str, Any]:
    statuses = await asyncio.to_thread(_reply_statuses, _container().engine, thread)
    return _thread_json(thread, _messages(thread, statuses))


# --- threads ----------------------------------------------------------------------------------


@blueprint.get(BASE_URL)
async def list_threads() -> Any:
    """Threads, newest first, with cursor pagination."""
    fetch = functools.partial(newest_first, _container().engine, chat_threads, select(chat_threads))
    return await newest_first_page(fetch, _row_json)


@blueprint.post(BASE_URL)
@request_body(ThreadSettingsBody)
async def create_thread() -> Any:
    """Create a thread (`title`, `model`, `system_prompt`, all optional; without a title, the first
    message names it). Answers 201 with the thread."""
    body = (await receive_body(ThreadSettingsBody)).parse()
    thread_id = new_id()
    created = ThreadCreated(
        thread_id=thread_id,
        title=body.title or None,
        model=await _model(body.model),
        system_prompt=body.system_prompt or None,
    )
    container = _container()
    stream = thread_stream(thread_id)
    event = to_new_event(CATEGORY, created, metadata={"correlation_id": stream, **request_metadata()})
    await asyncio.to_thread(container.store.append, stream, [event], NO_STREAM)
    response = jsonify(_thread_json(await _thread(thread_id), []))
    response.status_code = 201
    response.headers["Location"] = f"{BASE_URL}/{thread_id}"
    return response


@blueprint.get(THREAD)
async def get_thread(thread_id: str) -> Any:
    """The thread with its messages, in order."""
    return await _full_json(await _thread(thread_id))


@blueprint.patch(THREAD)
@request_body(ThreadSettingsBody)
async def update_thread(thread_id: str) -> Any:
    """Rename the thread, or change its `model` or `system_prompt` (null: none): only what is sent."""
    received = await receive_body(ThreadSettingsBody)
    body = received.parse()
    changes: dict[str, Any] = {}
    if "title" in received.fields:
        if not body.title:
            raise FieldError("`title` must be a non-empty string.", "title")
        changes["title"] = body.title
    if "model" in received.fields:
        changes["model"] = await _model(body.model)
    if "system_prompt" in received.fields:
        changes["system_prompt"] = body.system_prompt or None

    def decide(thread: Thread) -> list[ThreadChanged]:
        changed = {k: v for k, v in changes.items() if getattr(thread, k) != v}
        return [ThreadChanged(changes=changed)] if changed else []

    thread = await asyncio.to_thread(change_thread, _container().store, thread_id, decide, request_metadata())
    return await _full_json(thread)


@blueprint.delete(THREAD)
async def remove_thread(thread_id: str) -> Any:
    """Delete the thread and its messages (a reply still running is cancelled)."""
    container = _container()
    await asyncio.to_thread(delete_thread, container.store, container.jobs, thread_id, request_metadata())
    return {"id": thread_id, "object": THREAD_OBJECT, "deleted": True}


# --- messages ---------------------------------------------------------------------------------


@blueprint.get(f"{THREAD}/messages")
async def list_messages(thread_id: str) -> Any:
    """The thread's messages, in order: each user message, and its reply once recorded."""
    thread = await _thread(thread_id)
    return {"object": "list", "data": (await _full_json(thread))["messages"]}


def _media_ref(part: Mapping[str, Any], param: str) -> str:
    """The media path an audio part names: ``audio_url.url`` (or ``url``) ``/v1/media/<path>``."""
    nested = part.get(part["type"])
    url = nested.get("url") if isinstance(nested, Mapping) else nested
    url = url if isinstance(url, str) else part.get("url")
    if not isinstance(url, str) or not url.startswith(MEDIA_URL):
        raise FieldError(
            f"`{param}` must name a media object by its URL, {MEDIA_URL}<path>: upload the audio with "
            "POST /v1/media first.",
            param,
        )
    return media_path(urllib.parse.unquote(url.removeprefix(MEDIA_URL)), param)


def _attachment(engine: Engine, index: int, part: Mapping[str, Any]) -> Attachment:
    param = f"content_parts[{index}]"
    path = _media_ref(part, param)
    found = find_object(engine, path)
    if found is None:
        raise FieldError(f"`{param}` names {MEDIA_URL}{path}, which holds no media object.", param)
    content_type = str(found["content_type"])
    if not content_type.startswith(("audio/", "video/")) and content_type != "application/octet-stream":
        raise FieldError(f"`{param}` names {MEDIA_URL}{path}, which is {content_type}, not audio.", param)
    return Attachment(index=index, path=path, digest=str(found["digest"]), content_type=content_type)


def _message_content(engine: Engine, fields: Mapping[str, Any], model: Any) -> tuple[str, list[Attachment]]:
    """The message's text and its audio attachments; other media refused, naming the model."""
    content = fields.get("content")
    if content is not None and not isinstance(content, str):
        raise FieldError("`content` must be a string.", "content")
    texts = [content] if content else []
    attachments: list[Attachment] = []
    parts = fields.get("content_parts")
    if parts is not None and not isinstance(parts, list):
        raise FieldError("`content_parts` must be a list of content parts.", "content_parts")
    for index, part in enumerate(parts or ()):
        param = f"content_parts[{index}]"
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise FieldError(f"`{param}` must be an object with a `type`.", param)
        if part["type"] in TEXT_PART_TYPES:
            if not isinstance(part.get("text"), str):
                raise FieldError(f"`{param}.text` must be a string.", param)
            texts.append(part["text"])
        elif part["type"] in AUDIO_PART_TYPES:
            attachments.append(_attachment(engine, index, part))
        else:
            check_parts([part], model, param, param)  # refuses what the model cannot read
            raise FieldError(
                f"`{param}`: a chat thread keeps text and audio parts only, not {part['type']!r}.", param
            )
    if len(attachments) > MAX_ATTACHMENTS:
        raise FieldError(f"A message holds at most {MAX_ATTACHMENTS} audio attachments.", "content_parts")
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip() and not attachments:
        raise FieldError("The message is empty: send `content` text, or `content_parts`.", "content")
    if len(text) > MAX_CONTENT_CHARS:
        raise FieldError(f"`content` must be at most {MAX_CONTENT_CHARS} characters.", "content")
    return text, attachments


async def _reply_frames(
    store: EventStore, follower: JobFollower, reply_stream: str, thread: Thread, model: str
) -> AsyncIterator[bytes]:
    """Sent after the request's context is gone: everything it needs is passed in."""
    turn = thread.turns[-1]
    user = _user_message(thread.id, turn, {"status": "queued", "error": None})
    yield sse_frame({"thread_id": thread.id, "model_id": model, "message": user}, event="start")
    ended = False
    try:
        async with contextlib.aclosing(follower.events(reply_stream, cancel_on_disconnect=False)) as events:
            async for event in events:
                if is_text_generated(event.type) and event.data.get("text"):
                    yield sse_frame({"delta": event.data["text"]}, event="delta")
                elif (end := job_end(event)) is not None:
                    ended = True
                    if not end.completed:
                        yield error_event(end.error())
                        continue
                    answered = await asyncio.to_thread(existing_thread, store, thread.id)
                    message = _assistant_message(thread.id, answered.turn(turn.number))
                    done = {"thread_id": thread.id, "message": message, "stats": message["stats"]}
                    yield sse_frame(done, event="done")
        if not ended:
            yield error_event(shutting_down())
    except ApiError as error:
        yield error_event(error)


@blueprint.post(f"{THREAD}/messages")
@request_body(ThreadMessageBody)
async def send(thread_id: str) -> Any:
    """Send a user message; a worker answers it over the thread's history (the oldest turns left out
    when it outgrows the model's context). `stream: true` answers with SSE events `start` (the
    stored user message), `delta`, then `done` (the stored reply and its stats) or `error`."""
    received = await receive_body(ThreadMessageBody)
    fields = received.fields
    if fields.get("role") not in (None, "user"):
        raise FieldError("`role` must be `user`: a thread's other messages are its replies.", "role")
    body = received.parse()
    container = _container()
    thread = await _thread(thread_id)
    variant = await resolve_model(
        container,
        fields.get("model") or thread.model,
        Capability.OPENAI_CHAT_COMPLETIONS,
        default_for="chat",
        what=WHAT,
    )
    content, attachments = await asyncio.to_thread(_message_content, container.engine, fields, variant)

    def reply(turn: int) -> ThreadReplyParams:
        return ThreadReplyParams(
            thread_id=thread_id,
            turn=turn,
            model=variant.id,
            max_tokens=body.max_tokens,
            temperature=body.temperature,
            system_prompt=body.system_prompt,
            enable_thinking=body.enable_thinking,
        )

    sent = await asyncio.to_thread(
        send_message,
        container.store,
        container.jobs,
        thread_id,
        content=content,
        attachments=attachments,
        reply=reply,
        model=variant.id,
        metadata=request_metadata(),
    )
    follower = JobFollower.for_request()
    if body.stream:
        frames = _reply_frames(container.store, follower, sent.reply_stream, sent.thread, variant.id)
        return sse_response(frames, container.settings.sse_heartbeat_seconds)
    await follower.result(sent.reply_stream, cancel_on_disconnect=False)
    answered = await _thread(thread_id)
    turn = answered.turn(sent.thread.turns[-1].number)
    assistant = _assistant_message(thread_id, turn)
    return {
        "thread_id": thread_id,
        "model_id": variant.id,
        "user_message": _user_message(thread_id, turn),
        "assistant_message": assistant,
        "stats": assistant["stats"],
    }
