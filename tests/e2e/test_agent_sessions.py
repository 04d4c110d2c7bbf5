"""Agent sessions through a real ``sauti serve`` and its worker processes, on real recordings: the
"ask your recordings" turn calls search_recordings and cites the recording that holds the answer; a
worker SIGKILLed mid-turn repeats no tool call, and the session is still there after a restart."""

from __future__ import annotations

import base64
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SautiServer, alive_workers, wait_for_events, wait_for_terminal, wait_until
from tests.recordings import JFK, QUESTION, SHEILA, WEATHER

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SESSIONS = "/v1/agent/sessions"
SLOW = httpx.Timeout(10.0, read=300.0)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _record(client: httpx.Client, audio: bytes, title: str) -> str:
    body = {"audio_base64": base64.b64encode(audio).decode(), "job_kind": "transcription", "title": title}
    record = _ok(client.post("/v1/speech-to-text/jobs", json=body), 202)
    events = wait_for_terminal(client, f"transcription-{record['id']}", timeout=180)
    assert events[-1]["type"] == "transcription.completed", events[-1]
    return str(record["id"])


def _recordings(client: httpx.Client) -> dict[str, str]:
    def spoken(text: str) -> bytes:
        body = {"model": "Piper-Joe-Medium", "input": text, "response_format": "wav"}
        response = client.post("/v1/audio/speech", json=body, timeout=SLOW)
        assert response.status_code == 200, response.text
        return response.content

    return {
        "sheila": _record(client, spoken(SHEILA), "Team meeting"),
        "weather": _record(client, spoken(WEATHER), "Forecast"),
        "jfk": _record(client, JFK.read_bytes(), "Inaugural address"),
    }


def _searched(events: list[dict[str, Any]]) -> bool:
    """A finished tool call (the turn ending without one fails the test at once, saying so)."""
    found = any(e["type"] == "agentturn.tool_call_completed" for e in events)
    assert found or events[-1]["type"] not in ("agentturn.completed", "agentturn.failed"), [
        e["type"] for e in events
    ]
    return found


def test_ask_your_recordings_and_a_worker_killed_mid_turn(server_factory: Callable[..., SautiServer]) -> None:
    server = server_factory()
    with server.client(timeout=SLOW) as client:
        wait_until(lambda: alive_workers(client), 30, "a live worker")
        ids = _recordings(client)
        session = _ok(client.post(SESSIONS, json={"title": "Ask my recordings"}), 201)

        first = _ok(
            client.post(f"{SESSIONS}/{session['id']}/turns", json={"input": QUESTION, "temperature": 0})
        )
        assert first["status"] == "completed" and first["assistant_text"].strip(), first
        assert first["tool_calls"][0]["name"] == "search_recordings", first["tool_calls"]
        assert first["citations"][0]["record_id"] == ids["sheila"], first["citations"]
        assert "friday" in first["assistant_text"].lower(), first["assistant_text"]

        # Another question, and the worker killed once its search has been recorded.
        answered: dict[str, Any] = {}

        def ask() -> None:
            body = {"input": "What will the weather be like in Nairobi tomorrow?", "temperature": 0}
            answered.update(_ok(client.post(f"{SESSIONS}/{session['id']}/turns", json=body)))

        asking = threading.Thread(target=ask)
        asking.start()

        def second_turn() -> str | None:
            thread = _ok(client.get(f"/v1/chat/threads/{session['thread_id']}"))
            users = [m for m in thread["messages"] if m["role"] == "user"]
            return f"agentturn-{users[1]['reply']['job_id']}" if len(users) == 2 else None

        stream = wait_until(second_turn, 30, "the second turn")
        wait_for_events(
            client,
            stream,
            lambda events: _searched(events),
            120,
            "a finished tool call",
        )
        os.kill(alive_workers(client)[0]["pid"], signal.SIGKILL)
        asking.join(timeout=300)
        events = wait_for_terminal(client, stream, timeout=60)
    server.stop_and_check()

    types = [e["type"] for e in events]
    assert types[-1] == "agentturn.completed" and types.count("agentturn.completed") == 1, types
    assert types.count("agentturn.started") >= 2, types  # it ran again after the kill
    started = [e["data"]["call_id"] for e in events if e["type"] == "agentturn.tool_call_started"]
    completed = [e["data"]["call_id"] for e in events if e["type"] == "agentturn.tool_call_completed"]
    assert started and len(started) == len(set(started)) and completed == started, types
    assert answered["status"] == "completed" and answered["citations"][0]["record_id"] == ids["weather"]

    again = server_factory(server.data_dir)
    with again.client() as client:
        shown = _ok(client.get(f"{SESSIONS}/{session['id']}"))
    assert [t["status"] for t in shown["turns"]] == ["completed", "completed"]
    assert shown["turns"][1]["assistant_text"] == answered["assistant_text"]
