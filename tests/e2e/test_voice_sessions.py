"""Voice sessions through a real ``sauti serve`` and its worker processes: a question spoken by
Piper and uploaded as a multipart file gets a transcript, an answer and the answer's audio, which
Whisper hears back as that answer; a remembered fact is in the next turn's prompt and gone from the
one after it is forgotten; the session is there after a restart."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import SautiServer
from tests.wer import character_error_rate, word_error_rate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

VOICE = "/v1/voice"
SESSIONS = f"{VOICE}/sessions"
SLOW = httpx.Timeout(10.0, read=180.0)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _samples(data: bytes) -> tuple[np.ndarray[Any, Any], int]:
    with wave.open(io.BytesIO(data)) as audio:
        return np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2"), audio.getframerate()


def _wav(samples: np.ndarray[Any, Any], rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(samples.tobytes())
    return out.getvalue()


def test_a_spoken_conversation_with_memory(server_factory: Callable[..., SautiServer]) -> None:
    server = server_factory()
    with server.client(timeout=SLOW) as client:
        question = client.post(
            "/v1/audio/speech",
            json={
                "model": "Piper-Joe-Medium",
                "input": "What is the capital city of France?",
                "response_format": "wav",
            },
        )
        assert question.status_code == 200
        session = _ok(client.post(SESSIONS, json={"title": "Geography"}), 201)
        turn = _ok(
            client.post(
                f"{SESSIONS}/{session['id']}/turns",
                files={"file": ("question.wav", question.content, "audio/wav")},
                data={"temperature": "0"},
            )
        )
        assert turn["status"] == "ok", turn
        assert word_error_rate("what is the capital city of france", turn["user_text"]) <= 0.2, turn
        pieces = [_samples(client.get(chunk["url"]).content) for chunk in turn["audio"]]
        assert pieces and turn["assistant_text"]
        answer = _wav(np.concatenate([samples for samples, _ in pieces]), pieces[0][1])
        heard = server.openai_client().audio.transcriptions.create(
            model="Whisper-Base", file=("answer.wav", io.BytesIO(answer), "audio/wav"), language="en"
        )
        assert character_error_rate(turn["assistant_text"], heard.text) <= 0.1, (
            turn["assistant_text"],
            heard.text,
        )

        _ok(client.patch(f"{VOICE}/profile", json={"observational_memory": True}))
        told = _ok(
            client.post(
                f"{SESSIONS}/{session['id']}/turns", json={"text": "My name is Ana.", "temperature": 0}
            )
        )
        assert told["observations_added"], told
        ana = next(o for o in _ok(client.get(f"{VOICE}/observations"))["data"] if "Ana" in o["text"])
        asked = _ok(
            client.post(
                f"{SESSIONS}/{session['id']}/turns", json={"text": "What is my name?", "temperature": 0}
            )
        )
        assert ana["id"] in asked["observations_used"] and "Ana" in asked["assistant_text"], asked
        _ok(client.delete(f"{VOICE}/observations/{ana['id']}"))
        later = _ok(
            client.post(f"{SESSIONS}/{session['id']}/turns", json={"text": "Thank you.", "temperature": 0})
        )
        assert ana["id"] not in later["observations_used"]
        before = _ok(client.get(f"{SESSIONS}/{session['id']}"))
    server.stop_and_check()

    again = server_factory(server.data_dir)
    with again.client() as client:
        after = _ok(client.get(f"{SESSIONS}/{session['id']}"))
        assert after == before and [t["turn"] for t in after["turns"]] == [1, 2, 3, 4]
        assert client.get(after["turns"][0]["audio"][0]["url"]).status_code == 200
