"""Saved voices on the real embedded broker, real SQLite and Whisper-Tiny.en: the reference's
transcription job, the ``saved_voices`` projection (rebuilt identically) and its media claims, the
reference that speech generation reads, and the clip's measured length."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import Engine

from app.bootstrap import Container, build_projections
from app.http.errors import ApiError
from app.http.uploads import AudioForm
from app.projections.media_refs import stream_media, unclaimed
from app.projections.saved_voice_queries import find_voice, voices_page
from app.routes.voices.requests import read_voice_source
from app.routes.voices.saved_voices import SavedVoiceReference, saved_voice_reference
from domain.audio_checks import AUDIO_CHECK, AudioCheckParams
from domain.events import stream_id
from domain.speech import SPEECH
from domain.voices import (
    CATEGORY,
    VOICE_TRANSCRIPTION,
    VoiceDeleted,
    VoiceSaved,
    VoiceTranscriptionParams,
    voice_request,
)
from eventstore.sql import SqlEventStore
from tests.conftest import JFK, JFK_TEXT, NoDispatch
from tests.integration.conftest import wait_for_terminal
from tests.wer import word_error_rate
from workers import audio_windows
from workers.audio_check_jobs import audio_seconds
from workers.engines.audio import AudioDecodeError, encode_audio
from workflows.jobs import JobRun, JobService, to_new_event

MODEL = "Whisper-Tiny.en"
MAX_WER = 0.15


def params(digest: str, name: str = "JFK", **extra: object) -> VoiceTranscriptionParams:
    fields = {"audio": digest, "content_type": "audio/flac", "duration_secs": 11.0, **extra}
    return VoiceTranscriptionParams.model_validate({**fields, "name": name, "model": MODEL})


def submit(container: Container, voice_id: str, job: VoiceTranscriptionParams) -> str:
    return container.jobs.submit(VOICE_TRANSCRIPTION, job.model_dump(mode="json"), job_id=voice_id)


def reference(container: Container, voice_id: str) -> SavedVoiceReference:
    return asyncio.run(saved_voice_reference(container, voice_id))


def save(store: SqlEventStore, voice_id: str, digest: str, text: str = "Hello there.") -> None:
    saved = VoiceSaved(
        voice_id=voice_id,
        reference_text=text,
        name=voice_id,
        audio=digest,
        content_type="audio/wav",
        duration_secs=1.5,
        language="en",
    )
    store.append(stream_id(CATEGORY, voice_id), [to_new_event(CATEGORY, saved)])


@pytest.mark.usefixtures("runtime")
def test_a_reference_without_transcript_is_transcribed(container: Container, worker: Callable) -> None:
    worker()
    digest = container.media.put(JFK.read_bytes())
    stream = submit(container, "jfk", params(digest, language="en"))
    pending = find_voice(container.engine, "jfk")
    assert pending is not None and pending["status"] in ("processing", "ready")
    events = wait_for_terminal(container, stream)
    assert [event.type for event in events] == [
        "voice.requested",
        "voice.queued",
        "voice.started",
        "voice.completed",
    ]
    result = events[-1].data["result"]
    assert set(result) == {"reference_text", "language"} and result["language"] == "en"
    assert word_error_rate(JFK_TEXT, result["reference_text"]) <= MAX_WER
    row = find_voice(container.engine, "jfk")
    assert row is not None
    assert (row["status"], row["reference_text"], row["language"]) == (
        "ready",
        result["reference_text"],
        "en",
    )
    assert row["transcription_model"] == MODEL and row["audio"] == digest and row["source"] == "upload"
    assert reference(container, "jfk") == SavedVoiceReference(audio=digest, text=result["reference_text"])


@pytest.mark.usefixtures("runtime")
def test_a_long_reference_is_transcribed_window_by_window(
    container: Container, worker: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JFK cut into windows of at most 6 s (at pauses the VAD finds): one progress event each, and
    the transcript whole. No language given: the one detected is recorded."""
    monkeypatch.setattr(audio_windows, "WINDOWING", audio_windows.Windowing(window_s=6.0, search_s=3.0))
    worker()
    stream = submit(container, "long", params(container.media.put(JFK.read_bytes())))
    events = wait_for_terminal(container, stream)
    progress = [event.data for event in events if event.type == "voice.progressed"]
    count = len(progress)
    assert count >= 2  # 11 s in windows of at most 6 s
    assert [p["step"] for p in progress] == [f"window_{n}" for n in range(1, count + 1)]
    assert [p["percent"] for p in progress] == [round(100.0 * n / count, 1) for n in range(1, count + 1)]
    result = events[-1].data["result"]
    assert events[-1].type == "voice.completed" and result["language"] == "en"
    assert word_error_rate(JFK_TEXT, result["reference_text"]) <= MAX_WER


@pytest.mark.usefixtures("runtime")
def test_a_reference_with_no_speech_fails_the_job(container: Container, worker: Callable) -> None:
    worker()
    silence = encode_audio(np.zeros(16_000 * 2, dtype=np.float32), 16_000, "wav")
    stream = submit(container, "quiet", params(container.media.put(silence), content_type="audio/wav"))
    events = wait_for_terminal(container, stream)
    failed = events[-1]
    assert failed.type == "voice.failed"
    assert failed.data["error_type"] == "invalid_request_error" and failed.data["param"] == "reference_text"
    row = find_voice(container.engine, "quiet")
    assert row is not None and row["status"] == "failed" and row["reference_text"] is None
    with pytest.raises(ApiError) as not_ready:
        reference(container, "quiet")
    assert (not_ready.value.status, not_ready.value.param) == (400, "saved_voice_id")


def test_the_projection_rebuilds_identically_and_deletion_releases_the_audio(
    sqlite_engine: Engine,
) -> None:
    projections = build_projections()
    store = SqlEventStore(sqlite_engine, projector=projections)
    shared, own, transcribed = "a" * 64, "b" * 64, "c" * 64
    save(store, "kept", shared)
    save(store, "twin", shared)
    save(store, "gone", own)
    service = JobService(store, NoDispatch())
    job = service.submit(VOICE_TRANSCRIPTION, params(transcribed).model_dump(mode="json"), job_id="job")
    run = JobRun(store, job, message_id="m1", worker="w1")
    assert run.begin()
    run.complete({"reference_text": "Ask not.", "language": "en"})
    failing = service.submit(VOICE_TRANSCRIPTION, params(own).model_dump(mode="json"), job_id="bad")
    bad = JobRun(store, failing, message_id="m2", worker="w1")
    bad.begin()
    bad.fail("no speech", "invalid_request_error", "reference_text")

    claimed = {voice: stream_media(sqlite_engine, stream_id(CATEGORY, voice)) for voice in ("twin", "gone")}
    assert claimed == {"twin": [shared], "gone": [own]}
    for voice in ("twin", "gone"):
        store.append(stream_id(CATEGORY, voice), [to_new_event(CATEGORY, VoiceDeleted())])
    # The shared bytes are still another voice's; ``own`` is still the failed job's input.
    assert unclaimed(sqlite_engine, [shared, own, transcribed]) == []
    store.append(stream_id(CATEGORY, "bad"), [to_new_event(CATEGORY, VoiceDeleted())])
    assert unclaimed(sqlite_engine, [shared, own, transcribed]) == [own]

    rows, more = voices_page(sqlite_engine, None, 10)
    assert [(r["id"], r["status"]) for r in rows] == [("job", "ready"), ("kept", "ready")] and not more
    job_row = find_voice(sqlite_engine, "job")
    assert job_row is not None and job_row["reference_text"] == "Ask not."
    assert find_voice(sqlite_engine, "gone") is None

    before = projections.dump(sqlite_engine)
    assert projections.rebuild(store) == store.last_position()
    assert projections.dump(sqlite_engine) == before


def test_pages_follow_creation_order(sqlite_engine: Engine) -> None:
    store = SqlEventStore(sqlite_engine, projector=build_projections())
    for index in range(5):
        save(store, f"v{index}", f"{index}" * 64)
    first, more = voices_page(sqlite_engine, None, 2)
    assert [r["id"] for r in first] == ["v4", "v3"] and more
    second, more = voices_page(sqlite_engine, first[-1]["created_position"], 2)
    assert [r["id"] for r in second] == ["v2", "v1"] and more
    last, more = voices_page(sqlite_engine, second[-1]["created_position"], 2)
    assert [r["id"] for r in last] == ["v0"] and not more


def test_a_deleted_or_unknown_voice_is_a_404(container: Container) -> None:
    save(container.store, "once", "d" * 64)
    assert reference(container, "once") == SavedVoiceReference(audio="d" * 64, text="Hello there.")
    container.store.append(stream_id(CATEGORY, "once"), [to_new_event(CATEGORY, VoiceDeleted())])
    for voice in ("once", "never"):
        with pytest.raises(ApiError) as missing:
            reference(container, voice)
        assert (missing.value.status, missing.value.param) == (404, "saved_voice_id")


@pytest.mark.usefixtures("runtime")
def test_the_clip_length_is_measured_and_non_audio_refused(container: Container, worker: Callable) -> None:
    """A worker decodes an uploaded clip (an ``audio_check`` job): the web process never runs FFmpeg."""
    worker()
    clip = container.jobs.submit(
        AUDIO_CHECK, AudioCheckParams(media_digest=container.media.put(JFK.read_bytes()))
    )
    text = container.media.put(b"this is plain text, not audio at all" * 20)
    refused = container.jobs.submit(AUDIO_CHECK, AudioCheckParams(media_digest=text, field="file"))
    measured = wait_for_terminal(container, clip)[-1]
    assert measured.type == "audiocheck.completed"
    assert measured.data["result"]["duration_secs"] == pytest.approx(11.0, abs=0.05)
    failed = wait_for_terminal(container, refused)[-1]
    assert failed.type == "audiocheck.failed"
    assert (failed.data["error_type"], failed.data["param"]) == ("invalid_request_error", "file")
    assert "not usable" in failed.data["error"]
    with pytest.raises(AudioDecodeError), tempfile.NamedTemporaryFile() as file:
        file.write(b"this is plain text, not audio at all" * 20)
        file.flush()
        audio_seconds(file.name)


def test_a_voice_from_a_speech_record_needs_a_finished_record(container: Container) -> None:
    """A record still queued is a 400; an unknown one, or one of another family, a 404 (the ready
    case runs on a real server: tests/e2e/test_voices_routes.py)."""
    record = {"model": "Piper-Joe-Medium", "input": "Hello.", "record": True, "family": "text_to_speech"}
    container.jobs.submit(SPEECH, record, job_id="queued-record")

    def source(**fields: str) -> object:
        request = voice_request({"name": "From a record", **fields})
        return asyncio.run(read_voice_source(container, request, AudioForm()))

    for fields, status in (
        ({"source_record_id": "queued-record"}, 400),
        ({"source_record_id": "queued-record", "source_family": "voice-clones"}, 404),
        ({"source_record_id": "no-such-record"}, 404),
    ):
        with pytest.raises(ApiError) as refused:
            source(**fields)
        assert (refused.value.status, refused.value.param) == (status, "source_record_id")
