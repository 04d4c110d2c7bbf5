"""Speech history on a real ``sauti serve``: ``/v1/text-to-speech`` records created with real Piper,
plain and streamed, listed page by page, downloaded whole and by range, deleted with their audio;
``/v1/voice-designs`` and ``/v1/voice-clones`` refused with the embedded models, naming the
capability and the models that would provide it."""

from __future__ import annotations

import base64
import io
import uuid
import wave
from typing import Any

import httpx
import pytest

from tests.conftest import JFK
from tests.e2e.conftest import (
    SautiServer,
    event_types,
    iter_sse,
    list_pages,
    stream_events,
    wait_for_terminal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TTS = "/v1/text-to-speech"
DESIGNS = "/v1/voice-designs"
CLONES = "/v1/voice-clones"
PIPER = "Piper-Joe-Medium"
PIPER_RATE = 22_050
TEXT = "Hello from the speech history. This record has two sentences."
SLOW = httpx.Timeout(10.0, read=120.0)


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == str(status) and error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error


def wav_info(data: bytes) -> tuple[int, int]:
    """A mono 16-bit WAV's frame count and sample rate."""
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        return reader.getnframes(), reader.getframerate()


def unique_text() -> str:
    """A sentence no other test speaks, so its chunk is this record's alone."""
    return f"Record {uuid.uuid4().int % 100_000} is spoken once."


def create(api: httpx.Client, path: str = TTS, **body: Any) -> httpx.Response:
    return api.post(path, json={"model": PIPER, "input": TEXT, **body}, timeout=SLOW)


def created_record(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = create(api, **body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def media_file(server: SautiServer, digest: str) -> Any:
    return server.data_dir / "media" / digest[:2] / digest


def stream_create(api: httpx.Client, body: dict[str, Any], path: str = TTS) -> list[dict[str, Any]]:
    with api.stream("POST", path, json={"stream": True, **body}, timeout=SLOW) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [frame.json() for frame in iter_sse(response)]


@pytest.fixture(scope="module")
def record(api: httpx.Client) -> dict[str, Any]:
    return created_record(api, voice="default", speed=1.1, language="en")


# --- creating ---------------------------------------------------------------------------


def test_a_created_record_holds_the_request_and_its_audio(api: httpx.Client, record: dict[str, Any]) -> None:
    assert record["object"] == "text_to_speech_record" and record["family"] == "text_to_speech"
    assert record["status"] == "ready" and record["error"] is None
    assert (record["model"], record["input"], record["voice"]) == (PIPER, TEXT, "default")
    assert (record["speed"], record["language"]) == (1.1, "en")
    assert record["audio_url"] == f"{TTS}/{record['id']}/audio"
    assert record["sample_rate"] == PIPER_RATE and 1.5 < record["duration_secs"] < 15
    assert record["chunk_count"] == 2 and record["generation_time_ms"] > 0 and record["rtf"] > 0
    assert record["completed_at"] >= record["created_at"]
    assert api.get(f"{TTS}/{record['id']}").json() == record

    events = stream_events(api, f"speech-{record['id']}")
    requested = events[0]["data"]["params"]
    assert requested["record"] is True and requested["family"] == "text_to_speech"
    assert event_types(events)[-1] == "speech.completed"
    assert events[-1]["data"]["result"]["audio"] == record["audio_sha256"]


def test_a_request_naming_no_model_uses_the_default_tts_model(api: httpx.Client) -> None:
    response = api.post(TTS, json={"input": "Just one sentence."}, timeout=SLOW)
    assert response.status_code == 201, response.text
    assert response.json()["model"] == PIPER
    assert response.headers["location"] == f"{TTS}/{response.json()['id']}"


def test_a_streamed_create_sends_created_start_chunks_final_done(api: httpx.Client) -> None:
    frames = stream_create(api, {"model": PIPER, "input": TEXT})
    kinds = [frame["event"] for frame in frames]
    assert kinds == ["created", "start", "chunk", "chunk", "final", "done"], kinds
    created, start, chunks, final = frames[0], frames[1], frames[2:4], frames[4]
    record_id = created["record"]["id"]
    assert created["record"]["status"] in ("queued", "processing")
    assert start == {
        "event": "start",
        "request_id": record_id,
        "sample_rate": PIPER_RATE,
        "audio_format": "wav",
    }
    assert [chunk["sequence"] for chunk in chunks] == [0, 1]
    for chunk in chunks:
        assert chunk["request_id"] == record_id
        frames_count, rate = wav_info(base64.b64decode(chunk["audio_base64"]))
        assert frames_count == chunk["sample_count"] > 0 and rate == PIPER_RATE
    total = sum(chunk["sample_count"] for chunk in chunks)
    completed = final["record"]
    assert completed["id"] == record_id and completed["status"] == "ready"
    assert completed["duration_secs"] == pytest.approx(total / PIPER_RATE, abs=1e-3)
    assert final["audio_duration_secs"] == pytest.approx(total / PIPER_RATE, abs=1e-3)
    assert final["generation_time_ms"] > 0 and final["tokens_generated"] is None
    assert api.get(f"{TTS}/{record_id}").json()["status"] == "ready"


def test_requests_that_cannot_be_honoured_are_refused(api: httpx.Client) -> None:
    assert_error(create(api, model="No-Such-TTS"), 400, "model")
    assert_error(create(api, model="Whisper-Tiny.en"), 400, "model")
    assert_error(api.post(TTS, json={"model": PIPER}), 400, "input")
    assert_error(create(api, speed=9), 400, "speed")
    assert_error(create(api, instructions="calm"), 400, "instructions")
    for stream in (False, True):  # refused by the worker: the same 400 in both modes
        error = assert_error(create(api, voice="alloy", stream=stream), 400, "voice")
        assert "Valid voices: default" in error["message"]
    assert_error(api.post(TTS, content=b"input=Hi", headers={"content-type": "text/plain"}), 415)
    assert_error(api.get(TTS, params={"cursor": "not-a-cursor"}), 400, "cursor")


# --- listing ----------------------------------------------------------------------------


def pages(api: httpx.Client, path: str, limit: int) -> list[list[str]]:
    """Every page of the family's ids, following the cursors."""
    return [[record["id"] for record in found] for found in list_pages(api, path, limit)]


def test_the_list_pages_newest_first(api: httpx.Client) -> None:
    made = [created_record(api, input=f"Page test {n}.")["id"] for n in range(3)]
    for limit in (1, 2):
        listed = pages(api, TTS, limit)
        assert all(len(page) == limit for page in listed[:-1]) and 1 <= len(listed[-1]) <= limit
        ids = [record_id for page in listed for record_id in page]
        assert len(ids) == len(set(ids))
        assert ids[:3] == made[::-1]  # the newest first
    first = api.get(TTS, params={"limit": 1}).json()
    assert first["pagination"]["has_more"] and first["records"][0]["id"] == made[-1]
    # Each family lists its own records only.
    assert not set(made) & {record_id for page in pages(api, CLONES, 50) for record_id in page}


# --- the audio --------------------------------------------------------------------------


def test_the_audio_is_a_wav_of_the_records_duration_whole_or_by_range(
    api: httpx.Client, record: dict[str, Any]
) -> None:
    whole = api.get(record["audio_url"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    frames, rate = wav_info(whole.content)
    assert rate == record["sample_rate"] == PIPER_RATE
    assert frames / rate == pytest.approx(record["duration_secs"], abs=1e-3)
    part = api.get(record["audio_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]


# --- deleting ---------------------------------------------------------------------------


def test_delete_removes_the_record_and_its_audio_files(sauti_server: SautiServer, api: httpx.Client) -> None:
    record = created_record(api, input=unique_text())
    events = stream_events(api, f"speech-{record['id']}")
    chunks = [e["data"]["media"] for e in events if e["type"] == "speech.chunk_synthesized"]
    files = [media_file(sauti_server, digest) for digest in [record["audio_sha256"], *chunks]]
    assert len(files) == 2 and all(path.is_file() for path in files)

    deleted = api.delete(f"{TTS}/{record['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": record["id"], "object": "text_to_speech_record", "deleted": True}
    for suffix in ("", "/audio"):
        assert_error(api.get(f"{TTS}/{record['id']}{suffix}"), 404)
    assert_error(api.delete(f"{TTS}/{record['id']}"), 404)
    assert not any(path.exists() for path in files)
    assert record["id"] not in [r["id"] for r in api.get(TTS, params={"limit": 500}).json()["records"]]
    types = event_types(stream_events(api, f"speech-{record['id']}"))
    assert types[0] == "speech.requested" and types[-1] == "speech.record_deleted"


def test_deleting_a_record_being_generated_cancels_its_job(api: httpx.Client) -> None:
    body = {"model": PIPER, "input": " ".join(f"Sentence {n} is long enough." for n in range(8))}
    with api.stream("POST", TTS, json={"stream": True, **body}, timeout=SLOW) as response:
        assert response.status_code == 200, response.read()
        frames = iter_sse(response)
        record_id = next(frames).json()["record"]["id"]
        assert api.delete(f"{TTS}/{record_id}").status_code == 200
        rest = [frame.json() for frame in frames]
    assert rest[-1]["event"] == "done"
    assert_error(api.get(f"{TTS}/{record_id}"), 404)
    types = event_types(wait_for_terminal(api, f"speech-{record_id}"))
    assert "speech.record_deleted" in types and "speech.cancel_requested" in types
    assert types.count("speech.chunk_synthesized") < 8


# --- the families the embedded models cannot serve --------------------------------------


def reference_audio() -> str:
    return base64.b64encode(JFK.read_bytes()).decode()


def test_voice_clones_need_a_model_that_is_not_installed(api: httpx.Client) -> None:
    body = {"input": "Hi.", "reference_audio": reference_audio(), "reference_text": "And so my fellow"}
    error = assert_error(api.post(CLONES, json=body), 400, "model")
    message = error["message"]
    assert message.startswith("Voice cloning (voice_clone_records) needs a model that is not installed")
    assert "F5-TTS" in message and "POST /v1/admin/models/F5-TTS/download" in message
    assert "f5 extra" in message
    files = {"reference_audio": ("jfk.flac", JFK.read_bytes(), "audio/flac")}
    form = api.post(CLONES, data={"input": "Hi.", "reference_text": "And so"}, files=files)
    assert "voice_clone_records" in assert_error(form, 400, "model")["message"]
    named = assert_error(api.post(CLONES, json={**body, "model": PIPER}), 400, "model")
    assert PIPER in named["message"] and "voice_clone_records" in named["message"]
    assert (
        "F5-TTS" in assert_error(api.post(CLONES, json={**body, "model": "F5-TTS"}), 400, "model")["message"]
    )


def test_voice_designs_need_a_model_no_catalog_entry_provides(api: httpx.Client) -> None:
    body = {"input": "Hi.", "instructions": "a calm, low voice"}
    message = assert_error(api.post(DESIGNS, json=body), 400, "model")["message"]
    assert "voice_design_records" in message and "no model in this server's catalog" in message
    named = assert_error(api.post(DESIGNS, json={**body, "model": PIPER}), 400, "model")
    assert PIPER in named["message"] and "voice_design_records" in named["message"]


def test_the_other_families_list_nothing_and_know_no_tts_record(
    api: httpx.Client, record: dict[str, Any]
) -> None:
    for path in (DESIGNS, CLONES):
        listed = api.get(path, params={"limit": 5})
        assert listed.status_code == 200
        assert listed.json()["records"] == [] and listed.json()["pagination"]["has_more"] is False
        assert_error(api.get(f"{path}/{record['id']}"), 404, "record_id")
        assert_error(api.get(f"{path}/{record['id']}/audio"), 404)
        assert_error(api.delete(f"{path}/{record['id']}"), 404)
    assert api.get(f"{TTS}/{record['id']}").status_code == 200
