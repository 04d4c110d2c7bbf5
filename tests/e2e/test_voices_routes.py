"""Saved voices on a real ``sauti serve``: created from uploads with and without a transcript (the
reference transcribed by a real worker with Whisper-Tiny.en) and from a Piper speech record,
listed page by page, fetched, downloaded whole and by range, deleted with their audio; the
refusals; and ``saved_voice_id`` on ``/v1/audio/speech`` with a model that cannot reuse one."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import JFK, JFK_TEXT
from tests.e2e.conftest import SautiServer, event_types, list_pages, stream_events
from tests.wer import word_error_rate
from workers.engines.audio import decode_audio, encode_audio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

VOICES = "/v1/voices"
ASR = "Whisper-Tiny.en"
PIPER = "Piper-Joe-Medium"
MAX_WER = 0.15
SLOW = httpx.Timeout(10.0, read=120.0)
SAMPLE_RATE = 16_000
LIMIT = 64 * 1024 * 1024


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == str(status) and error["message"] and error["type"]
    if param is not None:
        assert error["param"] == param, error
    return error


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unique_wav() -> bytes:
    """JFK as WAV with a random last sample: bytes no other test stores."""
    samples = decode_audio(JFK).astype(np.float32)
    samples[-1] = np.float32(np.random.default_rng().uniform(-1e-3, 1e-3))
    return encode_audio(samples, SAMPLE_RATE, "wav")


def media_file(server: SautiServer, digest: str) -> Path:
    return server.data_dir / "media" / digest[:2] / digest


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    voice: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{VOICES}/{voice['id']}"
    return voice


def create_json(api: httpx.Client, audio: bytes, **body: Any) -> dict[str, Any]:
    body = {"name": "Voice", "reference_audio": b64(audio), **body}
    return created(api.post(VOICES, json=body, timeout=SLOW))


def create_multipart(
    api: httpx.Client, audio: bytes, filename: str = "jfk.flac", **data: Any
) -> httpx.Response:
    files = {"file": (filename, audio, "application/octet-stream")}
    return api.post(VOICES, files=files, data={"name": "Voice", **data}, timeout=SLOW)


@pytest.fixture(scope="module")
def transcribed(api: httpx.Client) -> dict[str, Any]:
    """JFK uploaded as multipart with no transcript: transcribed by the worker before the 201."""
    return created(create_multipart(api, JFK.read_bytes(), name="President", description="Inaugural"))


# --- creating ---------------------------------------------------------------------------


def test_a_json_upload_with_its_transcript_is_saved_at_once(api: httpx.Client) -> None:
    voice = create_json(api, JFK.read_bytes(), name=" Kennedy ", reference_text=JFK_TEXT, language="English")
    assert voice["object"] == "voice" and voice["status"] == "ready" and voice["error"] is None
    assert (voice["name"], voice["reference_text"], voice["language"]) == ("Kennedy", JFK_TEXT, "en")
    assert (voice["source"], voice["source_record_id"], voice["source_family"]) == ("upload", None, None)
    assert voice["content_type"] == "audio/flac" and voice["filename"] is None
    assert voice["duration_secs"] == pytest.approx(11.0, abs=0.05)
    assert voice["transcription_model"] is None and voice["description"] is None
    assert voice["audio_url"] == f"{VOICES}/{voice['id']}/audio"
    assert api.get(f"{VOICES}/{voice['id']}").json() == voice
    # No job: one event.
    events = stream_events(api, f"voice-{voice['id']}")
    assert event_types(events) == ["voice.saved"]
    assert events[0]["data"]["audio"] == voice["audio_sha256"]


def test_a_multipart_upload_with_its_transcript_and_the_audio_base64_alias(api: httpx.Client) -> None:
    voice = created(create_multipart(api, JFK.read_bytes(), reference_text="Ask not.", description="Short"))
    assert (voice["reference_text"], voice["description"], voice["filename"]) == (
        "Ask not.",
        "Short",
        "jfk.flac",
    )
    assert voice["content_type"] == "audio/flac" and voice["status"] == "ready"
    aliased = created(
        api.post(
            VOICES, json={"name": "Alias", "audio_base64": b64(JFK.read_bytes()), "reference_text": "Hi."}
        )
    )
    assert aliased["audio_sha256"] == voice["audio_sha256"] and aliased["id"] != voice["id"]


def test_a_reference_without_transcript_is_transcribed_by_a_worker(
    api: httpx.Client, transcribed: dict[str, Any]
) -> None:
    voice = transcribed
    assert voice["status"] == "ready" and voice["transcription_model"] == ASR
    assert word_error_rate(JFK_TEXT, voice["reference_text"]) <= MAX_WER
    assert (voice["language"], voice["name"], voice["description"]) == ("en", "President", "Inaugural")
    events = stream_events(api, f"voice-{voice['id']}")
    types = event_types(events)
    assert types[:2] == ["voice.requested", "voice.queued"] and types[-1] == "voice.completed"
    assert events[0]["data"]["params"]["model"] == ASR
    assert events[-1]["data"]["result"] == {"reference_text": voice["reference_text"], "language": "en"}
    assert api.get(f"{VOICES}/{voice['id']}").json() == voice


def test_a_voice_from_a_generated_speech_record(api: httpx.Client, sauti_server: SautiServer) -> None:
    text = f"Voice source {uuid.uuid4().int % 100_000} is spoken here."
    made = api.post("/v1/text-to-speech", json={"model": PIPER, "input": text}, timeout=SLOW)
    assert made.status_code == 201, made.text
    record = made.json()
    record_audio = api.get(record["audio_url"]).content

    voice = created(api.post(VOICES, json={"name": "Joe", "source_record_id": record["id"]}, timeout=SLOW))
    assert (voice["source"], voice["source_family"], voice["source_record_id"]) == (
        "record",
        "text-to-speech",
        record["id"],
    )
    assert voice["reference_text"] == text and voice["content_type"] == "audio/wav"
    assert voice["duration_secs"] == pytest.approx(record["duration_secs"], abs=1e-3)
    assert voice["audio_sha256"] == record["audio_sha256"]

    # The record's deletion leaves the voice's audio; the voice's takes it.
    assert api.delete(f"/v1/text-to-speech/{record['id']}").status_code == 200
    assert api.get(voice["audio_url"]).content == record_audio
    assert api.delete(f"{VOICES}/{voice['id']}").status_code == 200
    assert not media_file(sauti_server, voice["audio_sha256"]).exists()

    assert_error(api.post(VOICES, json={"name": "Joe", "source_record_id": "nope"}), 404, "source_record_id")
    other_family = {"name": "Joe", "source_record_id": record["id"], "source_family": "voice-clones"}
    assert_error(api.post(VOICES, json=other_family), 404, "source_record_id")


# --- listing, fetching, downloading -----------------------------------------------------


def pages(api: httpx.Client, limit: int) -> list[list[str]]:
    return [[voice["id"] for voice in found] for found in list_pages(api, VOICES, limit)]


def test_the_list_pages_newest_first(api: httpx.Client, transcribed: dict[str, Any]) -> None:
    made = [
        create_json(api, JFK.read_bytes(), name=f"Page {n}", reference_text="Ask not.")["id"]
        for n in range(3)
    ]
    for limit in (1, 2):
        listed = pages(api, limit)
        assert len(listed) >= 2
        assert all(len(page) == limit for page in listed[:-1]) and 1 <= len(listed[-1]) <= limit
        ids = [voice_id for page in listed for voice_id in page]
        assert len(ids) == len(set(ids)) and transcribed["id"] in ids
        assert ids[:3] == made[::-1]
    first = api.get(VOICES, params={"limit": 1}).json()
    assert first["records"][0] == api.get(f"{VOICES}/{made[-1]}").json()
    assert_error(api.get(VOICES, params={"cursor": "not-a-cursor"}), 400, "cursor")


def test_the_audio_is_the_upload_whole_or_by_range(api: httpx.Client, transcribed: dict[str, Any]) -> None:
    upload = JFK.read_bytes()
    whole = api.get(transcribed["audio_url"])
    assert whole.status_code == 200 and whole.content == upload
    assert whole.headers["content-type"] == "audio/flac" and whole.headers["accept-ranges"] == "bytes"
    part = api.get(transcribed["audio_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(upload)}"
    assert part.content == upload[100:200]


# --- deleting ---------------------------------------------------------------------------


def test_deleting_removes_the_voice_and_its_audio(api: httpx.Client, sauti_server: SautiServer) -> None:
    audio = unique_wav()
    voice = create_json(api, audio, reference_text=JFK_TEXT)
    twin = create_json(api, audio, reference_text=JFK_TEXT)
    stored = media_file(sauti_server, voice["audio_sha256"])
    assert stored.read_bytes() == audio and twin["audio_sha256"] == voice["audio_sha256"]

    deleted = api.delete(f"{VOICES}/{voice['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": voice["id"], "object": "voice", "deleted": True}
    assert_error(api.get(f"{VOICES}/{voice['id']}"), 404, "voice_id")
    assert_error(api.get(f"{VOICES}/{voice['id']}/audio"), 404, "voice_id")
    assert_error(api.delete(f"{VOICES}/{voice['id']}"), 404, "voice_id")
    # Another voice holds the same bytes: they stay until it goes too.
    assert stored.is_file() and api.get(twin["audio_url"]).content == audio
    assert api.delete(f"{VOICES}/{twin['id']}").status_code == 200
    assert not stored.exists()
    listed = {voice_id for page in pages(api, 500) for voice_id in page}
    assert not {voice["id"], twin["id"]} & listed
    assert event_types(stream_events(api, f"voice-{voice['id']}")) == ["voice.saved", "voice.deleted"]


# --- refusals ---------------------------------------------------------------------------


def test_requests_that_cannot_be_honoured_are_refused(api: httpx.Client) -> None:
    audio = b64(JFK.read_bytes())
    assert_error(api.post(VOICES, json={"reference_audio": audio, "reference_text": "Hi."}), 400, "name")
    assert_error(api.post(VOICES, json={"name": "No audio"}), 400, "reference_audio")
    assert_error(api.post(VOICES, json={"name": "Bad", "reference_audio": "%%%"}), 400, "reference_audio")
    assert_error(api.post(VOICES, json={"name": "Bad", "audio_base64": "%%%"}), 400, "audio_base64")
    both = {"name": "Both", "reference_audio": audio, "audio_base64": audio}
    assert_error(api.post(VOICES, json=both), 400, "reference_audio")
    record_too = {"name": "Both", "reference_audio": audio, "source_record_id": "r1"}
    assert_error(api.post(VOICES, json=record_too), 400, "source_record_id")
    text = b"these bytes are plain text, not audio at all " * 40
    assert_error(create_multipart(api, text, filename="notes.txt", reference_text="Hi."), 400, "file")
    assert_error(create_multipart(api, text, filename="notes.txt"), 400, "file")
    assert_error(
        api.post(VOICES, json={"name": "Text", "reference_audio": b64(text)}), 400, "reference_audio"
    )
    assert_error(api.post(VOICES, content=b"name=x", headers={"content-type": "text/plain"}), 415)
    assert_error(api.post(VOICES, json={"name": "x" * 201, "reference_audio": audio}), 400, "name")
    assert_error(api.get(f"{VOICES}/{uuid.uuid4().hex}"), 404, "voice_id")


def test_uploads_over_64_mib_are_413(api: httpx.Client, sauti_server: SautiServer) -> None:
    before = sorted((sauti_server.data_dir / "media").rglob("*"))
    too_big = b"\x00" * (LIMIT + 1)
    assert_error(create_multipart(api, too_big, filename="big.wav"), 413)
    body = {"name": "Big", "reference_audio": b64(b"\x00" * (LIMIT // 4 * 3 + 16))}
    assert_error(api.post(VOICES, json=body, timeout=SLOW), 413)
    assert sorted((sauti_server.data_dir / "media").rglob("*")) == before


def test_saved_voice_id_needs_a_model_that_reuses_saved_voices(api: httpx.Client) -> None:
    voice = create_json(api, JFK.read_bytes(), reference_text=JFK_TEXT)
    body = {"model": PIPER, "input": "Hello.", "saved_voice_id": voice["id"]}
    error = assert_error(api.post("/v1/audio/speech", json=body), 400, "saved_voice_id")
    assert PIPER in error["message"] and "saved_voice_id" in error["message"]
    assert "saved voice" in error["message"]


def test_a_transcription_that_fails_leaves_no_voice(api: httpx.Client, sauti_server: SautiServer) -> None:
    """No speech in the clip, or a language the ASR model lacks: the worker's refusal is the 400,
    and the voice it would have been is deleted with its audio."""
    samples = np.zeros(SAMPLE_RATE * 2, dtype=np.float32)
    samples[-1] = np.float32(np.random.default_rng().uniform(1e-4, 1e-3))
    silence = encode_audio(samples, SAMPLE_RATE, "wav")
    before = {voice_id for page in pages(api, 500) for voice_id in page}
    error = assert_error(create_multipart(api, silence, filename="quiet.wav"), 400, "reference_text")
    assert "No speech" in error["message"]
    speech = unique_wav()
    error = assert_error(create_multipart(api, speech, filename="jfk.wav", language="fr"), 400, "language")
    assert ASR in error["message"]
    assert {voice_id for page in pages(api, 500) for voice_id in page} == before
    for audio in (silence, speech):
        assert not media_file(sauti_server, hashlib.sha256(audio).hexdigest()).exists()
