"""``POST /v1/audio/speech`` on a real server with real workers: the official ``openai`` client,
SSE audio events, the audit trail, refusals, and the explicit WAV fallback without FFmpeg."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.e2e.conftest import SautiServer, event_types, iter_sse, stream_events, wait_for_terminal
from workers.engines.audio import decode_audio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PIPER = "Piper-Joe-Medium"
PIPER_RATE = 22_050
TEXT = "Hello from Sauti. This is a short test of speech."
LONG_TEXT = " ".join(f"Sentence number {n} is spoken here." for n in range(1, 7))
SPEECH = "/v1/audio/speech"
SLOW = httpx.Timeout(10.0, read=120.0)


def openai_client(server: SautiServer) -> OpenAI:
    return server.openai_client(timeout=120.0)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, PIPER_RATE)
        return reader.getnframes() / reader.getframerate()


def is_mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def speak(client: OpenAI, response_format: str) -> tuple[bytes, httpx.Headers]:
    with client.audio.speech.with_streaming_response.create(
        model=PIPER,
        voice="default",
        input=TEXT,
        response_format=response_format,  # type: ignore[arg-type]
    ) as response:
        return response.read(), response.headers


def sse(client: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with client.stream("POST", SPEECH, json=body, timeout=SLOW) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return response, [frame.json() for frame in iter_sse(response)]


def test_the_openai_client_gets_wav_mp3_and_pcm(sauti_server: SautiServer) -> None:
    client = openai_client(sauti_server)

    wav_bytes, headers = speak(client, "wav")
    assert headers["content-type"] == "audio/wav"
    assert headers["x-requested-response-format"] == headers["x-actual-response-format"] == "wav"
    assert "X-Actual-Response-Format" in headers["access-control-expose-headers"]
    seconds = wav_seconds(wav_bytes)
    assert 1.5 < seconds < 10

    mp3_bytes, headers = speak(client, "mp3")
    assert headers["content-type"] == "audio/mpeg" and headers["x-actual-response-format"] == "mp3"
    assert is_mp3(mp3_bytes)
    decoded = decode_audio(mp3_bytes, 16_000)
    # Another synthesis of the same text (Piper samples its durations), plus the encoder's padding.
    assert decoded.size / 16_000 == pytest.approx(seconds, rel=0.25)

    pcm_bytes, headers = speak(client, "pcm")
    assert headers["content-type"] == "audio/pcm"
    assert headers["x-requested-response-format"] == "pcm"
    assert headers["x-actual-response-format"] == "pcm_i16"
    assert headers["x-sample-rate"] == str(PIPER_RATE)
    assert len(pcm_bytes) % 2 == 0
    assert len(pcm_bytes) / 2 / PIPER_RATE == pytest.approx(float(headers["x-audio-duration-secs"]), abs=0.01)


def test_sse_streams_each_chunk_as_it_is_recorded_and_the_job_is_audited(api: httpx.Client) -> None:
    body = {"model": PIPER, "input": LONG_TEXT, "stream_format": "sse"}
    frames: list[dict[str, Any]] = []
    with api.stream("POST", SPEECH, json=body, timeout=SLOW) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-actual-response-format"] == "wav"
        for frame in iter_sse(response):
            frames.append(frame.json())
            if len(frames) == 2:
                # The first chunk is sent while later sentences are still being synthesized.
                first_seen = event_types(stream_events(api, f"speech-{frames[0]['request_id']}"))
                assert "speech.completed" not in first_seen

    started, chunks, done = frames[0], frames[1:-1], frames[-1]
    request_id = started["request_id"]
    assert started == {
        "type": "audio.started",
        "request_id": request_id,
        "sample_rate": PIPER_RATE,
        "audio_format": "wav",
    }
    assert [c["type"] for c in chunks] == ["audio.chunk"] * 6
    assert [c["sequence"] for c in chunks] == list(range(6))
    assert [c["is_final"] for c in chunks] == [False] * 5 + [True]
    assert all(c["request_id"] == request_id for c in chunks)
    for chunk in chunks:
        with wave.open(io.BytesIO(base64.b64decode(chunk["audio_base64"]))) as reader:
            assert reader.getnframes() == chunk["sample_count"] > 0
    total = sum(c["sample_count"] for c in chunks)
    assert done["type"] == "audio.done" and done["request_id"] == request_id
    assert done["tokens_generated"] is None
    assert done["audio_duration_secs"] == pytest.approx(total / PIPER_RATE, abs=1e-3)
    assert done["generation_time_ms"] > 0 and 0 < done["rtf"] < 5

    stream_id = f"speech-{request_id}"
    listed = api.get("/v1/events", params={"stream": stream_id, "limit": 500})
    assert listed.status_code == 200
    types = [event["type"] for event in listed.json()["records"]]
    assert types[:4] == ["speech.requested", "speech.queued", "speech.started", "speech.synthesis_planned"]
    assert types[4:-1] == ["speech.chunk_synthesized"] * 6 and types[-1] == "speech.completed"


def test_a_client_that_goes_away_cancels_its_speech_job(api: httpx.Client) -> None:
    body = {"model": PIPER, "input": LONG_TEXT, "stream": True}
    with api.stream("POST", SPEECH, json=body, timeout=SLOW) as response:
        frames = iter_sse(response)
        request_id = next(frames).json()["request_id"]
        assert next(frames).json()["type"] == "audio.chunk"
    events = wait_for_terminal(api, f"speech-{request_id}")
    assert event_types(events)[-1] == "speech.cancelled"
    assert event_types(events).count("speech.chunk_synthesized") < 6


def test_requests_the_server_cannot_honour_are_refused(api: httpx.Client) -> None:
    def refused(body: dict[str, Any], status: int = 400) -> dict[str, Any]:
        response = api.post(SPEECH, json=body, timeout=SLOW)
        assert response.status_code == status, response.text
        error: dict[str, Any] = response.json()["error"]
        assert error["code"] == str(status)
        return error

    assert refused({"model": "Nope-TTS", "input": "Hi."})["param"] == "model"
    assert refused({"input": "Hi."})["param"] == "model"
    assert refused({"model": PIPER})["param"] == "input"
    assert refused({"model": PIPER, "input": "Hi.", "response_format": "m4a"})["param"] == "response_format"
    for stream in (False, True):
        voice = refused({"model": PIPER, "input": "Hi.", "voice": "alloy", "stream": stream})
        assert voice["param"] == "voice" and "Valid voices: default" in voice["message"]
    for field, value in (("reference_audio", base64.b64encode(b"RIFF").decode()), ("instructions", "calm")):
        error = refused({"model": PIPER, "input": "Hi.", field: value})
        assert error["param"] == field and PIPER in error["message"]

    form = api.post(SPEECH, content=b"input=Hi", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and form.json()["error"]["code"] == "415"


def test_without_ffmpeg_compressed_formats_fall_back_to_wav_only_when_allowed(
    server_factory: Callable[..., SautiServer],
) -> None:
    server = server_factory(env={"SAUTI_FFMPEG_BINARY": "none"})
    with server.client(timeout=SLOW) as client:
        refused = client.post(SPEECH, json={"model": PIPER, "input": TEXT, "response_format": "mp3"})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "response_format"
        assert "allow_format_fallback" in refused.json()["error"]["message"]

        body = {"model": PIPER, "input": TEXT, "response_format": "mp3", "allow_format_fallback": True}
        response = client.post(SPEECH, json=body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers["x-requested-response-format"] == "mp3"
        assert response.headers["x-actual-response-format"] == "wav"
        assert response.headers["x-response-format-fallback"] == "mp3->wav"
        assert response.headers["warning"].startswith("299 Sauti ")
        assert wav_seconds(response.content) > 1.5

        _, frames = sse(client, {**body, "response_format": "opus", "stream": True})
        assert frames[0]["type"] == "audio.started" and frames[0]["audio_format"] == "wav"
        assert "opus->wav" in frames[0]["error"]
        assert frames[-1]["type"] == "audio.done"
