"""Agent sessions (``/v1/agent/sessions``): a session is an ``agent-<id>`` stream with its linked
chat thread; each turn is an ``agentturn-<id>`` job, so a session and every turn it ran are still
there after a restart (docs/agents.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from quart import Blueprint, current_app, jsonify

from app.bootstrap import Container, request_metadata
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, error_event, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.request_body import receive_body, request_body
from app.http.sse import sse_frame, sse_response
from app.routes.agent.bodies import AgentSessionBody, AgentTurnBody
from app.routes.chat.requests import normalize_tools
from domain.agents import (
    AGENT_TURN,
    AGENTS,
    BASE_URL,
    DEFAULT_AGENT,
    SESSION_OBJECT,
    TURN_OBJECT,
    AgentTurnParams,
    Session,
    ToolResult,
    TurnEvents,
)
from domain.capabilities import Capability
from domain.chat_threads import MAX_CONTENT_CHARS, Thread
from domain.fields import FieldError
from eventstore.base import EventStore, RecordedEvent
from workflows.agents import create_session, load_session
from workflows.chat_threads import existing_thread, send_message
from workflows.jobs import load_job

blueprint = Blueprint("agent", __name__)
SESSION = f"{BASE_URL}/<session_id>"
WHAT = "agent sessions"


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _turns(store: EventStore, thread: Thread) -> list[dict[str, Any]]:
    shown = []
    for turn in thread.turns:
        state, _version = load_job(store, turn.reply_stream)
        result = state.result or {}
        shown.append(
            {
                "id": turn.reply_job_id,
                "object": TURN_OBJECT,
                "turn": turn.number,
                "input": turn.content,
                "status": result.get("status") or state.status,
                "assistant_text": turn.reply.content if turn.reply else None,
                "plan": result.get("plan", []),
                "tool_calls": result.get("tool_calls", []),
                "citations": result.get("citations", []),
                "error": state.error,
                "created_at": int(turn.sent_at),
            }
        )
    return shown


def _session_json(store: EventStore, session: Session) -> dict[str, Any]:
    thread = existing_thread(store, session.thread_id)
    return {
        "id": session.id,
        "object": SESSION_OBJECT,
        "agent_id": session.agent_id,
        "model_id": session.model,
        "system_prompt": session.system_prompt,
        "planning_mode": session.planning_mode,
        "title": thread.title or session.title,
        "thread_id": session.thread_id,
        "created_at": int(session.created_at),
        "tools": list(session.agent.server_tools),
        "turns": _turns(store, thread),
    }


def _read(session_id: str) -> dict[str, Any]:
    store = _container().store
    return _session_json(store, load_session(store, session_id))


@blueprint.post(BASE_URL)
@request_body(AgentSessionBody)
async def new_session() -> Any:
    """Create an agent session and its linked chat thread. Answers 201 with the session."""
    body = (await receive_body(AgentSessionBody)).parse()
    agent_id = body.agent_id or DEFAULT_AGENT
    if agent_id not in AGENTS:
        raise FieldError(f"Unknown agent {agent_id!r}. Agents: {', '.join(AGENTS)}.", "agent_id")
    container = _container()
    variant = await resolve_model(
        container,
        body.model_id,
        Capability.OPENAI_CHAT_COMPLETIONS,
        default_for="chat",
        what=WHAT,
        param="model_id",
    )

    def made() -> dict[str, Any]:
        session = create_session(
            container.store,
            agent_id=agent_id,
            model=variant.id,
            system_prompt=body.system_prompt or None,
            planning_mode=body.planning_mode or "off",
            title=body.title or None,
            metadata=request_metadata(),
        )
        return _session_json(container.store, session)

    shown = await asyncio.to_thread(made)
    response = jsonify(shown)
    response.status_code = 201
    response.headers["Location"] = f"{BASE_URL}/{shown['id']}"
    return response


@blueprint.get(SESSION)
async def get_session(session_id: str) -> Any:
    """The session and its turns (kept in its event streams: there after a restart)."""
    return await asyncio.to_thread(_read, session_id)


def _tools(raw: object, session: Session) -> tuple[tuple[str, ...] | None, list[dict[str, Any]]]:
    """The server tools named (None: the agent's all) and the client's own tool definitions."""
    if raw is None:
        return None, []
    if not isinstance(raw, list):
        raise FieldError("`tools` must be a list of tool names and function definitions.", "tools")
    offered = session.agent.server_tools
    named = [item for item in raw if isinstance(item, str)]
    for name in named:
        if name not in offered:
            known = ", ".join(offered) or "none"
            raise FieldError(
                f"Unknown tool {name!r} for agent {session.agent_id} (its tools: {known}).", "tools"
            )
    client = normalize_tools([item for item in raw if not isinstance(item, str)])
    clashes = sorted({t["function"]["name"] for t in client} & set(offered))
    if clashes:
        raise FieldError(f"`tools` redefines the server tool {clashes[0]!r}: name yours otherwise.", "tools")
    return (tuple(named) if named else None), client


def _tool_results(raw: object) -> tuple[ToolResult, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FieldError("`tool_results` must be a list of {tool_call_id, content}.", "tool_results")
    results = []
    for index, item in enumerate(raw):
        if not (
            isinstance(item, Mapping)
            and isinstance(item.get("tool_call_id"), str)
            and isinstance(item.get("content"), str)
        ):
            raise FieldError(
                f"`tool_results[{index}]` must be {{tool_call_id, content}} strings.", "tool_results"
            )
        results.append(ToolResult(tool_call_id=item["tool_call_id"], content=item["content"]))
    return tuple(results)


def _turn_answer(result: Mapping[str, Any], events: list[RecordedEvent], job_id: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "object": TURN_OBJECT,
        **{key: value for key, value in result.items() if key != "pending_tool_calls"},
        "events": _shown_events(events),
    }


def _shown_events(events: list[RecordedEvent]) -> list[dict[str, Any]]:
    names = TurnEvents()
    shown = (names.shown(event.type.partition(".")[2], event.data) for event in events)
    return [item for item in shown if item is not None]


async def _turn_frames(follower: JobFollower, stream: str, job_id: str) -> AsyncIterator[bytes]:
    seen: list[RecordedEvent] = []
    names = TurnEvents()
    ended = False
    try:
        async with contextlib.aclosing(follower.events(stream, cancel_on_disconnect=False)) as events:
            async for event in events:
                seen.append(event)
                item = names.shown(event.type.partition(".")[2], event.data)
                end = job_end(event)
                if end is not None:
                    ended = True
                    if not end.completed:
                        yield error_event(end.error())
                        continue
                    yield sse_frame(_turn_answer(end.result, seen, job_id), event="turn_completed")
                elif item is not None:
                    yield sse_frame(item, event=item["type"])
        if not ended:
            yield error_event(shutting_down())
    except ApiError as error:
        yield error_event(error)


@blueprint.post(f"{SESSION}/turns")
@request_body(AgentTurnBody)
async def run_turn(session_id: str) -> Any:
    """Run one turn: the agent plans (as its planning mode says), calls its tools and answers. The
    answer holds the assistant text, the plan, the tool calls with their results, the recordings it
    cites and the ordered events; `stream: true` sends the events as SSE as they happen."""
    received = await receive_body(AgentTurnBody)
    fields = received.fields
    body = received.parse()
    container = _container()
    session = await asyncio.to_thread(load_session, container.store, session_id)
    text = fields.get("input")
    if text is not None and not isinstance(text, str):
        raise FieldError("`input` must be a string.", "input")
    results = _tool_results(fields.get("tool_results"))
    if not (text or "").strip() and not results:
        raise FieldError("`input` is required: what the user says (or `tool_results`).", "input")
    if len(text or "") > MAX_CONTENT_CHARS:
        raise FieldError(f"`input` must be at most {MAX_CONTENT_CHARS} characters.", "input")
    server_tools, client_tools = _tools(fields.get("tools"), session)

    def params(turn: int) -> AgentTurnParams:
        return AgentTurnParams(
            session_id=session.id,
            thread_id=session.thread_id,
            turn=turn,
            agent_id=session.agent_id,
            model=session.model,
            planning_mode=session.planning_mode,
            system_prompt=session.instructions(),
            server_tools=server_tools,
            client_tools=tuple(client_tools),
            tool_results=results,
            max_tokens=body.max_tokens,
            temperature=body.temperature,
        )

    sent = await asyncio.to_thread(
        send_message,
        container.store,
        container.jobs,
        session.thread_id,
        content=(text or "").strip(),
        attachments=(),
        reply=params,
        kind=AGENT_TURN,
        model=session.model,
        metadata=request_metadata(),
    )
    job_id = sent.reply_stream.partition("-")[2]
    follower = JobFollower.for_request()
    if body.stream:
        return sse_response(
            _turn_frames(follower, sent.reply_stream, job_id), container.settings.sse_heartbeat_seconds
        )
    result, events = await follower.result(sent.reply_stream, cancel_on_disconnect=False)
    return _turn_answer(result, events, job_id)
