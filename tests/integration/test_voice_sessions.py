"""Voice mode through the routes, with real Whisper, Qwen2.5-Coder 0.5B and Piper on the embedded
broker: the profile, a voice turn from an uploaded spoken question (its transcript, its answer and
the answer's audio, which Whisper hears back as that answer), observational memory remembered and
forgotten, exports, and bad input refused."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import Callable
from typing import Any

import dramatiq
import numpy as np
import pytest
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container
from app.settings import Settings
from tests.integration.conftest import json_answer, wait_for_events
from tests.wer import character_error_rate, word_error_rate

pytestmark = pytest.mark.usefixtures("runtime")

VOICE = "/v1/voice"
SESSIONS = f"{VOICE}/sessions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"job_max_retries": 0})


@pytest.fixture(autouse=True)
def running_worker(worker: Callable[[], dramatiq.Worker]) -> dramatiq.Worker:
    return worker()


async def _spoken(client: Client, text: str) -> bytes:
    body = {"model": "Piper-Joe-Medium", "input": text, "response_format": "wav"}
    response = await client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200
    return await response.get_data()


async def _turn(client: Client, session_id: str, **body: Any) -> dict[str, Any]:
    turn: dict[str, Any] = await json_answer(
        await client.post(f"{SESSIONS}/{session_id}/turns", json={"temperature": 0, **body}), 200
    )
    return turn


def _joined(wavs: list[bytes]) -> bytes:
    samples, rate = [], 0
    for data in wavs:
        with wave.open(io.BytesIO(data)) as audio:
            rate = audio.getframerate()
            samples.append(np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2"))
    out = io.BytesIO()
    with wave.open(out, "wb") as joined:
        joined.setnchannels(1)
        joined.setsampwidth(2)
        joined.setframerate(rate)
        joined.writeframes(np.concatenate(samples).tobytes())
    return out.getvalue()


async def test_a_spoken_question_gets_a_spoken_answer(client: Client) -> None:
    session = await json_answer(await client.post(SESSIONS, json={"title": "Geography"}), 201)
    profile = await json_answer(await client.get(f"{VOICE}/profile"), 200)
    assert session["mode"] == "modular" and session["system_prompt"] == profile["system_prompt"]
    question = await _spoken(client, "What is the capital city of France?")
    turn = await _turn(client, session["id"], audio_base64=base64.b64encode(question).decode())
    assert turn["status"] == "ok", turn
    assert word_error_rate("what is the capital city of france", turn["user_text"]) <= 0.2, turn["user_text"]
    assert turn["assistant_text"] and turn["audio"], turn
    spoken = []
    for chunk in turn["audio"]:
        response = await client.get(chunk["url"])
        assert response.status_code == 200 and chunk["duration_secs"] > 0
        spoken.append(await response.get_data())
    answer_audio = base64.b64encode(_joined(spoken)).decode()
    transcribing = {"audio_base64": answer_audio, "model": "Whisper-Base", "language": "en"}
    heard = await json_answer(await client.post("/v1/audio/transcriptions", json=transcribing), 200)
    assert character_error_rate(turn["assistant_text"], heard["text"]) <= 0.1, (
        turn["assistant_text"],
        heard["text"],
    )
    assert "".join(c["text"] + " " for c in turn["audio"]).split() == turn["assistant_text"].split()

    # Stored as the session's first turn, and exported.
    shown = await json_answer(await client.get(f"{SESSIONS}/{session['id']}"), 200)
    assert [t["turn"] for t in shown["turns"]] == [1] and shown["turns"][0]["assistant_text"] == turn[
        "assistant_text"
    ]
    exported = await client.get(f"{SESSIONS}/{session['id']}/export", query_string={"format": "text"})
    text = await exported.get_data(as_text=True)
    assert f"User: {turn['user_text']}" in text and f"Sauti: {turn['assistant_text']}" in text
    as_json = await json_answer(await client.get(f"{SESSIONS}/{session['id']}/export"), 200)
    assert as_json["session"]["id"] == session["id"] and len(as_json["turns"]) == 1
    listed = await json_answer(await client.get(SESSIONS), 200)
    assert [s["turn_count"] for s in listed["records"] if s["id"] == session["id"]] == [1]


async def test_a_remembered_fact_reaches_later_turns_until_it_is_forgotten(client: Client) -> None:
    await json_answer(await client.patch(f"{VOICE}/profile", json={"observational_memory": True}), 200)
    session = await json_answer(await client.post(SESSIONS, json={}), 201)
    told = await _turn(client, session["id"], text="My name is Ana and I live in Lisbon.")
    assert told["observations_added"], told
    remembered = (await json_answer(await client.get(f"{VOICE}/observations"), 200))["data"]
    assert any("Ana" in o["text"] for o in remembered), remembered
    ana = next(o for o in remembered if "Ana" in o["text"])
    newest = await json_answer(await client.get(f"{VOICE}/observations", query_string={"limit": 1}), 200)
    assert newest["data"] == remembered[:1] and newest["total"] == len(remembered)

    asked = await _turn(client, session["id"], text="What is my name?")
    assert ana["id"] in asked["observations_used"]
    assert "Ana" in asked["assistant_text"], asked["assistant_text"]

    await json_answer(await client.delete(f"{VOICE}/observations/{ana['id']}"), 200)
    later = await _turn(client, session["id"], text="Say hello.")
    assert ana["id"] not in later["observations_used"]
    await json_answer(await client.delete(f"{VOICE}/observations/{ana['id']}"), 404)
    await json_answer(await client.delete(f"{VOICE}/observations"), 200)
    assert (await json_answer(await client.get(f"{VOICE}/observations"), 200))["data"] == []


async def test_bad_input_is_refused_naming_the_field(client: Client, container: Container) -> None:
    for method, path in (
        ("GET", f"{SESSIONS}/nope"),
        ("PATCH", f"{SESSIONS}/nope"),
        ("DELETE", f"{SESSIONS}/nope"),
        ("GET", f"{SESSIONS}/nope/turns"),
        ("POST", f"{SESSIONS}/nope/end"),
        ("GET", f"{SESSIONS}/nope/export"),
        ("POST", f"{SESSIONS}/nope/turns"),
    ):
        body = {"text": "hi"} if method in ("PATCH", "POST") else None
        await json_answer(await client.open(path, method=method, json=body), 404)
    for body, param in (({"name": ""}, "name"), ({"observational_memory": "maybe"}, "observational_memory")):
        answer = await json_answer(await client.patch(f"{VOICE}/profile", json=body), 400)
        assert answer["error"]["param"] == param
    answer = await json_answer(await client.post(SESSIONS, json={"mode": "duplex"}), 400)
    assert answer["error"]["param"] == "mode"
    unified = await json_answer(await client.post(SESSIONS, json={"mode": "unified"}), 201)
    answer = await json_answer(
        await client.post(f"{SESSIONS}/{unified['id']}/turns", json={"text": "hi"}), 400
    )
    assert answer["error"]["param"] == "mode" and "unified" in answer["error"]["message"]

    session = await json_answer(await client.post(SESSIONS, json={}), 201)
    stream = f"voicesession-{session['id']}"
    version = container.store.stream_version(stream)
    answer = await json_answer(
        await client.post(f"{SESSIONS}/{session['id']}/turns", json={"text": "  "}), 400
    )
    assert answer["error"]["param"] == "file"
    answer = await json_answer(await client.patch(f"{SESSIONS}/{session['id']}", json={"ended": False}), 400)
    assert answer["error"]["param"] == "ended"
    exported = await client.get(f"{SESSIONS}/{session['id']}/export", query_string={"format": "pdf"})
    assert (await json_answer(exported, 400))["error"]["param"] == "format"
    assert container.store.stream_version(stream) == version
    ended = await json_answer(await client.post(f"{SESSIONS}/{session['id']}/end"), 200)
    assert ended["ended"] is True
    await json_answer(await client.post(f"{SESSIONS}/{session['id']}/turns", json={"text": "hi"}), 409)
    await json_answer(await client.delete(f"{SESSIONS}/{session['id']}"), 200)
    await json_answer(await client.get(f"{SESSIONS}/{session['id']}"), 404)


async def test_a_cancelled_turn_stops_between_sentences(client: Client, container: Container) -> None:
    session = await json_answer(await client.post(SESSIONS, json={}), 201)
    body = {
        "text": "Count from one to fifty in words, one number per sentence, like this: One. Two. Three.",
        "max_tokens": 400,
        "temperature": 0,
    }
    asking = asyncio.ensure_future(client.post(f"{SESSIONS}/{session['id']}/turns", json=body))

    def first_turn() -> str | None:
        turns = container.store.read_stream(f"voicesession-{session['id']}")
        requested = [e.data["job_id"] for e in turns if e.type == "voicesession.turn_requested"]
        return f"voiceturn-{requested[0]}" if requested else None

    stream = None
    while stream is None:
        await asyncio.sleep(0.05)
        stream = first_turn()
    await asyncio.to_thread(
        wait_for_events,
        container,
        stream,
        lambda events: any(e.type == "voiceturn.chunk_synthesized" for e in events),
        120,
    )
    container.jobs.request_cancel(stream, "the user spoke over the answer")
    answer = await asyncio.wait_for(asyncio.shield(asking), 60)
    assert answer.status_code == 409
    events = container.store.read_stream(stream)
    types = [e.type for e in events]
    assert types[-1] == "voiceturn.cancelled", types
    spoken = [e for e in events if e.type == "voiceturn.chunk_synthesized"]
    cancel_at = types.index("voiceturn.cancel_requested")
    assert spoken and len(spoken) < 40
    assert (
        sum(1 for t in types[cancel_at:] if t == "voiceturn.chunk_synthesized") <= 1
    )  # the sentence in hand
    shown = await json_answer(await client.get(f"{SESSIONS}/{session['id']}"), 200)
    assert shown["turns"][0]["status"] == "interrupted"
