"""Agent sessions through the routes, on the real Qwen2.5-Coder 0.5B, Whisper and Piper, and the
bundled MiniLM embeddings: "ask your recordings" answered from the user's own transcripts, a plan
made first, a client tool handed back and its result used, a worker gone mid-turn repeating no
tool call, and bad input refused."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container
from app.settings import Settings
from domain.agents import AGENT_TURN, AGENTS, AgentTurnParams
from eventstore.base import RecordedEvent
from tests.integration.conftest import (
    finish_after_restart,
    json_answer,
    start_worker,
    stop_worker_mid_job,
    wait_for_terminal,
)
from tests.recordings import JFK, QUESTION, SHEILA, WEATHER
from workers.engines.registry import EngineRegistry
from workflows.chat_threads import send_message

SESSIONS = "/v1/agent/sessions"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"job_max_retries": 0})


async def _record(client: Client, container: Container, audio: bytes, title: str) -> str:
    body = {"audio_base64": base64.b64encode(audio).decode(), "job_kind": "transcription", "title": title}
    record = await json_answer(await client.post("/v1/speech-to-text/jobs", json=body), 202)
    events = await asyncio.to_thread(wait_for_terminal, container, f"transcription-{record['id']}", 120)
    assert events[-1].type == "transcription.completed", events[-1].data
    return str(record["id"])


async def _spoken(client: Client, text: str) -> bytes:
    body = {"model": "Piper-Joe-Medium", "input": text, "response_format": "wav"}
    response = await client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200
    return await response.get_data()


async def _recordings(client: Client, container: Container) -> dict[str, str]:
    return {
        "sheila": await _record(client, container, await _spoken(client, SHEILA), "Team meeting"),
        "weather": await _record(client, container, await _spoken(client, WEATHER), "Forecast"),
        "jfk": await _record(client, container, JFK.read_bytes(), "Inaugural address"),
    }


async def _session(client: Client, **fields: Any) -> dict[str, Any]:
    session: dict[str, Any] = await json_answer(await client.post(SESSIONS, json=fields), 201)
    return session


async def _turn(client: Client, session_id: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"{SESSIONS}/{session_id}/turns", json={"temperature": 0, **body})
    turn: dict[str, Any] = await json_answer(answer, 200)
    return turn


@pytest.mark.usefixtures("runtime")
async def test_an_agent_answers_from_the_users_recordings(
    client: Client, container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    ids = await _recordings(client, container)
    session = await _session(client, title="Ask my recordings")
    assert session["agent_id"] == "sauti" and "search_recordings" in session["tools"]
    turn = await _turn(client, session["id"], input=QUESTION)
    assert turn["status"] == "completed", turn
    calls = [call["name"] for call in turn["tool_calls"]]
    assert calls and calls[0] == "search_recordings", turn["tool_calls"]
    assert turn["citations"][0]["record_id"] == ids["sheila"], turn["citations"]
    answer = turn["assistant_text"].strip()
    assert "friday" in answer.lower() and not answer.startswith("{"), answer  # sentences, from the recording
    kinds = [event["type"] for event in turn["events"]]
    assert kinds[0] == "turn_started" and kinds[-1] == "turn_completed"
    assert (
        kinds.index("tool_call_started")
        < kinds.index("tool_call_completed")
        < kinds.index("assistant_message")
    )
    # The session is a stream: read back with its turn; the turn is a turn of its thread too.
    shown = await json_answer(await client.get(f"{SESSIONS}/{session['id']}"), 200)
    assert [(t["input"], t["status"]) for t in shown["turns"]] == [(QUESTION, "completed")]
    thread = await json_answer(await client.get(f"/v1/chat/threads/{session['thread_id']}"), 200)
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]
    assert thread["messages"][1]["content"] == turn["assistant_text"]


@pytest.mark.usefixtures("runtime")
async def test_planning_and_a_client_tool_handed_back(
    client: Client, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    planner = await _session(client, agent_id="plain", planning_mode="on")
    planned = await _turn(client, planner["id"], input="Plan a picnic: pick a park, then list food to bring.")
    assert planned["plan"] and [e["type"] for e in planned["events"]][1] == "plan_created"
    # The same as SSE, event by event, ending with the whole turn.
    body = {"input": "Plan a walk: choose a route, then pack water.", "stream": True, "temperature": 0}
    response = await client.post(f"{SESSIONS}/{planner['id']}/turns", json=body)
    frames = []
    for block in (await response.get_data(as_text=True)).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            frames.append((lines["event"], json.loads(lines["data"])))
    names = [name for name, _ in frames]
    assert names[:2] == ["turn_started", "plan_created"] and names[-2:] == [
        "assistant_message",
        "turn_completed",
    ]
    assert frames[-1][1]["assistant_text"] == frames[-2][1]["text"] and frames[-1][1]["plan"]

    session = await _session(client, agent_id="plain")
    asked = await _turn(
        client,
        session["id"],
        input="What is the weather in Paris? Use the get_weather tool.",
        tools=[WEATHER_TOOL],
    )
    assert asked["status"] == "requires_action", asked
    (call,) = asked["tool_calls"]
    assert call["name"] == "get_weather" and call["runs_on"] == "client" and call["result"] is None
    answered = await _turn(
        client,
        session["id"],
        tools=[WEATHER_TOOL],
        tool_results=[{"tool_call_id": call["id"], "content": '{"forecast": "heavy rain", "celsius": 11}'}],
    )
    assert answered["status"] == "completed" and answered["assistant_text"], answered
    assert "rain" in answered["assistant_text"].lower(), answered["assistant_text"]


@pytest.mark.usefixtures("runtime")
async def test_the_agent_speaks_through_its_speech_tool(
    client: Client, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    session = await _session(client)
    turn = await _turn(
        client,
        session["id"],
        input="Say 'good morning' out loud with synthesize_speech.",
        tools=["synthesize_speech"],
    )
    call = next(c for c in turn["tool_calls"] if c["name"] == "synthesize_speech")
    assert call["runs_on"] == "server" and call["error"] is None, call
    audio = await client.get(call["result"]["audio_url"])
    assert audio.status_code == 200 and (await audio.get_data())[:4] == b"RIFF"
    assert call["result"]["duration_secs"] > 0.3


@pytest.mark.usefixtures("runtime")
async def test_a_worker_gone_mid_turn_repeats_no_tool_call(
    client: Client, container: Container, engines: EngineRegistry
) -> None:
    preparing = start_worker(container.broker)
    try:
        ids = await _recordings(client, container)
        session = await _session(client)
    finally:
        preparing.stop(timeout=10_000)

    def submit() -> str:
        def params(turn: int) -> AgentTurnParams:
            return AgentTurnParams(
                session_id=session["id"],
                thread_id=session["thread_id"],
                turn=turn,
                agent_id=session["agent_id"],
                model=session["model_id"],
                system_prompt=AGENTS[session["agent_id"]].system_prompt,
                temperature=0,
            )

        sent = send_message(
            container.store,
            container.jobs,
            session["thread_id"],
            content=QUESTION,
            attachments=(),
            reply=params,
            kind=AGENT_TURN,
            model=session["model_id"],
        )
        return sent.reply_stream

    def searched(events: list[RecordedEvent]) -> bool:
        return any(e.type == "agentturn.tool_call_completed" for e in events)

    stream_id, _before = await asyncio.to_thread(stop_worker_mid_job, container, engines, submit, searched)
    events = await asyncio.to_thread(finish_after_restart, container, engines, stream_id, 120)
    types = [e.type for e in events]
    assert types[-1] == "agentturn.completed" and types.count("agentturn.completed") == 1
    started = [e.data["call_id"] for e in events if e.type == "agentturn.tool_call_started"]
    completed = [e.data["call_id"] for e in events if e.type == "agentturn.tool_call_completed"]
    assert len(started) == len(set(started)) and completed == started
    assert types.count("agentturn.started") == 2  # the first attempt and the one that finished it
    assert events[-1].data["result"]["citations"][0]["record_id"] == ids["sheila"]
    replies = [
        e
        for e in container.store.read_stream(f"thread-{session['thread_id']}")
        if e.type == "thread.reply_recorded"
    ]
    assert len(replies) == 1


@pytest.mark.usefixtures("runtime")
async def test_bad_input_is_refused_naming_the_field(client: Client, container: Container) -> None:
    await json_answer(await client.get(f"{SESSIONS}/nope"), 404)
    await json_answer(await client.post(f"{SESSIONS}/nope/turns", json={"input": "hi"}), 404)
    for body, param in (
        ({"agent_id": "nobody"}, "agent_id"),
        ({"model_id": "Piper-Joe-Medium"}, "model_id"),
        ({"planning_mode": "sometimes"}, "planning_mode"),
    ):
        answer = await json_answer(await client.post(SESSIONS, json=body), 400)
        assert answer["error"]["param"] == param
    session = await _session(client)
    thread_stream = f"thread-{session['thread_id']}"
    version = container.store.stream_version(thread_stream)
    for body, param, says in (
        ({"input": ""}, "input", "required"),
        ({"input": "hi", "tools": ["no_such_tool"]}, "tools", "no_such_tool"),
        (
            {"input": "hi", "tools": [{"type": "function", "function": {"name": "search_recordings"}}]},
            "tools",
            "redefines",
        ),
        ({"input": "hi", "tool_results": [{"tool_call_id": 3}]}, "tool_results", "tool_call_id"),
    ):
        answer = await json_answer(await client.post(f"{SESSIONS}/{session['id']}/turns", json=body), 400)
        assert answer["error"]["param"] == param and says in answer["error"]["message"], answer
    assert container.store.stream_version(thread_stream) == version
