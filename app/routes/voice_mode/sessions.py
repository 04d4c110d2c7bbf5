"""Voice sessions (``/v1/voice/sessions``): each a ``voicesession-<id>`` stream; a turn is a
``voiceturn-<id>`` job requested in it and recorded there when it ends (docs/voice.md). The list
reads the ``voice_sessions`` read model."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, error_event, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.pagination import newest_first_page
from app.http.request_body import receive_body, request_body
from app.http.sse import sse_frame, sse_response
from app.http.uploads import RECORD_UPLOAD_LIMIT
from app.projections.pages import newest_first
from app.projections.tables import voice_sessions
from app.records.deletion import delete_stream
from app.routes.voice_mode.bodies import VoiceSessionBody, VoiceSessionUpdateBody, VoiceTurnBody
from domain.capabilities import Capability
from domain.events import new_id
from domain.fields import FieldError
from domain.generation import is_text_generated
from domain.media_objects import media_url
from domain.stt_records import RecordDeleted
from domain.voice import (
    BASE_URL,
    DEFAULT_PROFILE_ID,
    SESSION_CATEGORY,
    SESSION_OBJECT,
    TURN_OBJECT,
    ChunkSynthesized,
    UserTranscribed,
    VoiceSession,
    VoiceSessionChanged,
    VoiceSessionCreated,
    VoiceSessionDeleted,
    VoiceSessionEnded,
    VoiceTurn,
    VoiceTurnParams,
    transcript_text,
)
from eventstore.base import NO_STREAM, EventStore
from workflows.jobs import load_job, to_new_event
from workflows.voice import change_session, load_profile, load_voice_session, request_turn, session_stream

blueprint = Blueprint("voice_sessions", __name__)
SESSIONS = f"{BASE_URL}/sessions"
SESSION = f"{SESSIONS}/<session_id>"


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _chunk_json(chunk: Any) -> dict[str, Any]:
    return {
        "sequence": chunk.sequence,
        "text": chunk.text,
        "url": media_url(chunk.path),
        "sample_rate": chunk.sample_rate,
        "duration_secs": round(chunk.sample_count / chunk.sample_rate, 3),
    }


def _turn_json(store: EventStore, session: VoiceSession, turn: VoiceTurn) -> dict[str, Any]:
    recorded = turn.recorded
    shown: dict[str, Any] = {
        "id": turn.job_id,
        "object": TURN_OBJECT,
        "session_id": session.id,
        "turn": turn.number,
        "created_at": int(turn.requested_at),
    }
    if recorded is not None:
        return {
            **shown,
            "status": recorded.status,
            "user_text": recorded.user_text,
            "assistant_text": recorded.assistant_text,
            "audio": [_chunk_json(chunk) for chunk in recorded.audio],
            "observations_used": list(recorded.observations_used),
            "observations_added": list(recorded.observations_added),
            "error": None,
        }
    state, _version = load_job(store, turn.job_stream)
    status = {"cancelled": "interrupted", "failed": "error"}.get(str(state.status), str(state.status))
    return {
        **shown,
        "status": status,
        "user_text": None,
        "assistant_text": None,
        "audio": [],
        "observations_used": [],
        "observations_added": [],
        "error": state.error,
    }


def _session_json(store: EventStore, session: VoiceSession, *, turns: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": session.id,
        "object": SESSION_OBJECT,
        "profile_id": session.profile_id,
        "mode": session.mode,
        "system_prompt": session.system_prompt,
        "title": session.title,
        "ended": session.ended,
        "ended_at": int(session.ended_at) if session.ended_at else None,
        "turn_count": len(session.turns),
        "created_at": int(session.created_at),
        "updated_at": int(session.updated_at),
    }
    if turns:
        shown["turns"] = [_turn_json(store, session, turn) for turn in session.turns]
    return shown


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": SESSION_OBJECT,
        "title": row["title"],
        "mode": row["mode"],
        "ended": row["ended"],
        "turn_count": row["turn_count"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
    }


async def _read(session_id: str) -> dict[str, Any]:
    store = _container().store

    def read() -> dict[str, Any]:
        return _session_json(store, load_voice_session(store, session_id))

    return await asyncio.to_thread(read)


@blueprint.get(SESSIONS)
async def list_sessions() -> Any:
    """Voice sessions, newest first, with cursor pagination."""
    fetch = functools.partial(newest_first, _container().engine, voice_sessions, select(voice_sessions))
    return await newest_first_page(fetch, _row_json)


@blueprint.post(SESSIONS)
@request_body(VoiceSessionBody)
async def create_session() -> Any:
    """Create a session: the default profile, modular mode and the profile's system prompt unless
    given. Answers 201 with it."""
    body = (await receive_body(VoiceSessionBody)).parse()
    if body.profile_id not in (None, DEFAULT_PROFILE_ID):
        raise FieldError(f"Unknown profile {body.profile_id!r}: there is one, `default`.", "profile_id")
    store = _container().store

    def create() -> dict[str, Any]:
        profile = load_profile(store)
        session_id = new_id()
        created = VoiceSessionCreated(
            session_id=session_id,
            mode="unified" if body.mode == "unified" else "modular",
            system_prompt=body.system_prompt or profile.system_prompt,
            title=body.title or None,
        )
        stream = session_stream(session_id)
        meta = {"correlation_id": stream, **request_metadata()}
        store.append(stream, [to_new_event(SESSION_CATEGORY, created, metadata=meta)], NO_STREAM)
        return _session_json(store, load_voice_session(store, session_id))

    shown = await asyncio.to_thread(create)
    response = jsonify(shown)
    response.status_code = 201
    response.headers["Location"] = f"{SESSIONS}/{shown['id']}"
    return response


@blueprint.get(SESSION)
async def get_session(session_id: str) -> Any:
    """The session with its turns."""
    return await _read(session_id)


@blueprint.patch(SESSION)
@request_body(VoiceSessionUpdateBody)
async def update_session(session_id: str) -> Any:
    """Change `system_prompt` or `title`, or end the session (`ended: true`)."""
    received = await receive_body(VoiceSessionUpdateBody)
    body = received.parse()
    if "ended" in received.fields and body.ended is not True:
        raise FieldError("`ended` can only be set to true: a session that ended stays ended.", "ended")
    changes: dict[str, Any] = {
        name: getattr(body, name) for name in ("system_prompt", "title") if name in received.fields
    }
    if "system_prompt" in changes and not changes["system_prompt"]:
        raise FieldError("`system_prompt` must be a non-empty string.", "system_prompt")
    store = _container().store

    def decide(session: VoiceSession) -> list[Any]:
        events: list[Any] = []
        changed = {k: v for k, v in changes.items() if getattr(session, k) != v}
        if changed:
            events.append(VoiceSessionChanged(changes=changed))
        if body.ended and not session.ended:
            events.append(VoiceSessionEnded())
        return events

    def change() -> dict[str, Any]:
        return _session_json(store, change_session(store, session_id, decide, request_metadata()))

    return await asyncio.to_thread(change)


@blueprint.post(f"{SESSION}/end")
async def end_session(session_id: str) -> Any:
    """Mark the session ended: it takes no more turns."""
    store = _container().store

    def end() -> dict[str, Any]:
        decide = lambda session: [] if session.ended else [VoiceSessionEnded()]  # noqa: E731
        return _session_json(store, change_session(store, session_id, decide, request_metadata()))

    return await asyncio.to_thread(end)


@blueprint.delete(SESSION)
async def delete_session(session_id: str) -> Any:
    """Delete the session and its stored turns (their audio goes once nothing else claims it)."""
    container = _container()

    def delete() -> None:
        session = change_session(
            container.store, session_id, lambda _s: [VoiceSessionDeleted()], request_metadata()
        )
        for turn in session.turns:
            delete_stream(
                container.store,
                container.media,
                turn.job_stream,
                RecordDeleted(),
                metadata=request_metadata(),
                jobs=container.jobs,
                reason="the voice session was deleted",
            )

    await asyncio.to_thread(delete)
    return {"id": session_id, "object": SESSION_OBJECT, "deleted": True}


@blueprint.get(f"{SESSION}/turns")
async def list_turns(session_id: str) -> Any:
    """Only the session's stored turns, in order."""
    return {"object": "list", "data": (await _read(session_id))["turns"]}


@blueprint.get(f"{SESSION}/export")
async def export_session(session_id: str) -> Any:
    """The session's metadata, its turns and a transcript view: `format=json` (default) or `text`."""
    export_format = request.args.get("format", "json")
    if export_format not in ("json", "text"):
        raise FieldError("`format` must be `json` or `text`.", "format")
    store = _container().store

    def export() -> tuple[dict[str, Any], str]:
        session = load_voice_session(store, session_id)
        return _session_json(store, session), transcript_text(session, load_profile(store).name)

    shown, text = await asyncio.to_thread(export)
    if export_format == "text":
        return Response(text, content_type="text/plain; charset=utf-8")
    turns = shown.pop("turns")
    return {"session": shown, "turns": turns, "transcript": text}


# --- turns ------------------------------------------------------------------------------------


def _event_frame(verb: str, data: dict[str, Any]) -> bytes | None:
    if verb == UserTranscribed.verb:
        return sse_frame({"text": data["text"], "language": data.get("language")}, event="user_transcript")
    if verb == ChunkSynthesized.verb:
        chunk = {**data, "url": media_url(data["path"])}
        return sse_frame(
            {k: v for k, v in chunk.items() if k not in ("media", "path")}, event="assistant_audio"
        )
    return None


async def _turn_frames(
    store: EventStore, follower: JobFollower, stream: str, session_id: str, number: int
) -> AsyncIterator[bytes]:
    ended = False
    try:
        async with contextlib.aclosing(follower.events(stream, cancel_on_disconnect=False)) as events:
            async for event in events:
                verb = event.type.partition(".")[2]
                if is_text_generated(event.type) and event.data.get("text"):
                    yield sse_frame({"delta": event.data["text"]}, event="assistant_text")
                elif (frame := _event_frame(verb, event.data)) is not None:
                    yield frame
                elif (end := job_end(event)) is not None:
                    ended = True
                    if not end.completed:
                        yield error_event(end.error())
                        continue
                    session = await asyncio.to_thread(load_voice_session, store, session_id)
                    shown = _turn_json(store, session, session.turns[number - 1])
                    yield sse_frame(shown, event="turn_done")
        if not ended:
            yield error_event(shutting_down())
    except ApiError as error:
        yield error_event(error)


@blueprint.post(f"{SESSION}/turns")
@request_body(VoiceTurnBody)
async def run_turn(session_id: str) -> Any:
    """One turn of the modular pipeline (a first-party extension): the uploaded speech (or `text`)
    is transcribed, answered by the chat model with the session's prompt and what is remembered
    about the user, and spoken sentence by sentence. Answers with the stored turn; `stream: true`
    sends `user_transcript`, `assistant_text`, `assistant_audio` and `turn_done` as SSE."""
    container = _container()
    received = await receive_body(VoiceTurnBody, limit=RECORD_UPLOAD_LIMIT)
    body = received.parse()
    store = container.store
    session = await asyncio.to_thread(load_voice_session, store, session_id)
    if session.mode == "unified":
        raise ApiError(
            400,
            "Voice mode `unified` needs an audio-native chat model, and none is installed: create the "
            "session with mode `modular`.",
            param="mode",
        )
    audio = received.upload.audio
    if not audio and not (body.text or "").strip():
        raise FieldError("No input: send the speech (a `file` part or `audio_base64`), or `text`.", "file")
    asr = await resolve_model(
        container, None, Capability.SPEECH_TO_TEXT_JOBS, default_for="asr", what="voice turns"
    )
    chat = await resolve_model(
        container, None, Capability.OPENAI_CHAT_COMPLETIONS, default_for="chat", what="voice turns"
    )
    tts = await resolve_model(
        container, None, Capability.OPENAI_AUDIO_SPEECH, default_for="tts", what="voice turns"
    )
    profile = await asyncio.to_thread(load_profile, store)
    digest = await asyncio.to_thread(container.media.put, audio) if audio else None

    def params(turn: int) -> VoiceTurnParams:
        return VoiceTurnParams(
            session_id=session_id,
            turn=turn,
            audio=digest,
            text=None if digest else body.text,
            asr_model=asr.id,
            chat_model=chat.id,
            tts_model=tts.id,
            voice=body.voice,
            language=body.language,
            system_prompt=session.system_prompt,
            memory=profile.observational_memory,
            max_tokens=body.max_tokens,
            temperature=body.temperature,
        )

    number, stream = await asyncio.to_thread(
        request_turn, store, container.jobs, session_id, params, request_metadata()
    )
    follower = JobFollower.for_request()
    if body.stream:
        frames = _turn_frames(store, follower, stream, session_id, number)
        return sse_response(frames, container.settings.sse_heartbeat_seconds)
    await follower.result(stream, cancel_on_disconnect=False)

    def stored() -> dict[str, Any]:
        after = load_voice_session(store, session_id)
        return _turn_json(store, after, after.turns[number - 1])

    return await asyncio.to_thread(stored)
