"""Speech history records with real Piper on the real embedded broker: a record job stores its
whole audio as one WAV media object, the ``speech_records`` projection follows it, it resumes after
a crash without repeating a sentence, its deletion releases its media, and a rebuild reproduces
the projection."""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Callable
from typing import Any

import dramatiq
import numpy as np
import pytest

from app.bootstrap import Container
from app.projections.media_refs import stream_media, unclaimed
from app.projections.speech_record_queries import find_record, records_page
from domain.speech import SPEECH, SpeechChunkSynthesized, SpeechParams
from domain.speech_records import TEXT_TO_SPEECH, VOICE_CLONE
from domain.stt_records import RecordDeleted
from eventstore.base import RecordedEvent
from tests.integration.conftest import (
    finish_after_restart,
    stop_worker_mid_job,
    wait_for_terminal,
)
from workers.engines.registry import EngineRegistry
from workflows.jobs import to_new_event

pytestmark = pytest.mark.usefixtures("runtime")

PIPER = "Piper-Joe-Medium"
PIPER_RATE = 22_050
TEXT = "The weather was warm today. Please call me tomorrow."
LONG_TEXT = " ".join(f"This is sentence number {n} of a story." for n in range(1, 9))
CHUNK = "speech.chunk_synthesized"


def submit(container: Container, text: str, *, record: bool = True, **fields: Any) -> str:
    values: dict[str, Any] = {"model": PIPER, "input": text, **fields}
    if record:
        values.update(record=True, family=fields.get("family", TEXT_TO_SPEECH))
    params = SpeechParams(**values)
    return str(container.jobs.submit(SPEECH, params.model_dump(mode="json")))


def chunks_of(events: list[RecordedEvent]) -> list[SpeechChunkSynthesized]:
    return [SpeechChunkSynthesized.model_validate(e.data) for e in events if e.type == CHUNK]


def wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        frames = reader.readframes(reader.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32767.0, reader.getframerate()


def assert_record_audio(container: Container, events: list[RecordedEvent]) -> dict[str, Any]:
    """The completed result's WAV holds the chunks' samples, in order: its duration is theirs."""
    assert events[-1].type == "speech.completed", events[-1].data
    result: dict[str, Any] = events[-1].data["result"]
    chunks = chunks_of(events)
    joined = np.concatenate([np.frombuffer(container.media.read(c.media), dtype="<f4") for c in chunks])
    samples, rate = wav_samples(container.media.read(result["audio"]))
    assert rate == PIPER_RATE == result["sample_rate"]
    assert samples.size == sum(c.sample_count for c in chunks) == result["sample_count"]
    assert np.abs(samples - np.clip(joined, -1, 1)).max() < 2 / 32767  # int16 quantization only
    assert result["duration_secs"] == pytest.approx(samples.size / PIPER_RATE, abs=1e-4)
    assert result["audio_format"] == "wav"
    return result


def test_a_record_job_stores_one_wav_of_its_chunks_and_the_projection_follows(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    stream_id = submit(container, TEXT, voice="default", speed=1.1)
    events = wait_for_terminal(container, stream_id)
    result = assert_record_audio(container, events)
    assert len(chunks_of(events)) == 2

    row = find_record(container.engine, stream_id.split("-", 1)[1], TEXT_TO_SPEECH)
    assert row is not None
    assert (row["status"], row["audio"], row["sample_rate"]) == ("ready", result["audio"], PIPER_RATE)
    assert row["duration_secs"] == result["duration_secs"] and row["completed_at"] is not None
    assert (row["model"], row["input"], row["voice"], row["speed"]) == (PIPER, TEXT, "default", 1.1)
    assert json.loads(row["result"]) == result
    assert find_record(container.engine, row["id"], VOICE_CLONE) is None  # another family's
    # The record's stream claims its chunks and its WAV.
    claimed = stream_media(container.engine, stream_id)
    assert sorted(claimed) == sorted({result["audio"], *(c.media for c in chunks_of(events))})


def test_a_job_of_the_openai_route_is_no_record_and_stores_no_wav(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    stream_id = submit(container, "Hello there.", record=False)
    events = wait_for_terminal(container, stream_id)
    assert events[-1].type == "speech.completed"
    assert "audio" not in events[-1].data["result"]
    assert records_page(container.engine, TEXT_TO_SPEECH, None, 10) == ([], False)
    stored = [path.name for path in container.settings.media_dir.rglob("*") if path.is_file()]
    assert stored == [c.media for c in chunks_of(events)]


@pytest.mark.parametrize(
    ("fields", "param", "said"),
    [
        ({"voice": "alloy"}, "voice", "'alloy'"),
        ({"instructions": "a calm voice"}, "instructions", "does not support `instructions`"),
        ({"family": VOICE_CLONE}, "model", "voice_clone_records"),
    ],
)
def test_a_record_job_refused_by_the_worker_is_a_failed_record(
    container: Container, worker: Callable[[], dramatiq.Worker], fields: dict[str, Any], param: str, said: str
) -> None:
    worker()
    stream_id = submit(container, "Hello there.", **fields)
    events = wait_for_terminal(container, stream_id)
    assert events[-1].type == "speech.failed" and events[-1].data["param"] == param
    assert "speech.chunk_synthesized" not in [e.type for e in events]
    family = fields.get("family", TEXT_TO_SPEECH)
    row = find_record(container.engine, stream_id.split("-", 1)[1], family)
    assert row is not None and row["status"] == "failed" and row["audio"] is None
    assert said in row["error"]


def test_a_record_job_resumes_after_a_crash_and_its_wav_has_every_sentence_once(
    container: Container, engines: EngineRegistry
) -> None:
    stream_id, before = stop_worker_mid_job(
        container, engines, lambda: submit(container, LONG_TEXT), lambda events: len(chunks_of(events)) >= 2
    )
    recorded_before = chunks_of(before)
    assert 2 <= len(recorded_before) < 8

    events = finish_after_restart(container, engines, stream_id)

    chunks = chunks_of(events)
    assert [c.sequence for c in chunks] == list(range(8))
    assert chunks[: len(recorded_before)] == recorded_before
    assert len({e.event_id for e in events}) == len(events)
    result = assert_record_audio(container, events)
    # One object per sentence and one WAV: nothing synthesized or stored twice.
    stored = sorted(path.name for path in container.settings.media_dir.rglob("*") if path.is_file())
    assert stored == sorted([*(c.media for c in chunks), result["audio"]])
    row = find_record(container.engine, stream_id.split("-", 1)[1], TEXT_TO_SPEECH)
    assert row is not None and row["status"] == "ready" and row["audio"] == result["audio"]


def test_deleting_a_record_releases_its_media_and_a_rebuild_reproduces_the_records(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    kept = submit(container, TEXT)
    gone = submit(container, "Goodbye for now.")
    for stream_id in (kept, gone):
        assert wait_for_terminal(container, stream_id)[-1].type == "speech.completed"
    page, more = records_page(container.engine, TEXT_TO_SPEECH, None, 1)
    assert [row["stream_id"] for row in page] == [gone] and more  # newest first
    older, more = records_page(container.engine, TEXT_TO_SPEECH, page[0]["created_position"], 1)
    assert [row["stream_id"] for row in older] == [kept] and not more

    claimed = stream_media(container.engine, gone)
    container.store.append(gone, [to_new_event("speech", RecordDeleted())])
    assert find_record(container.engine, gone.split("-", 1)[1], TEXT_TO_SPEECH) is None
    # No other stream claims what the deleted record claimed (another sentence, another WAV).
    assert unclaimed(container.engine, claimed) == sorted(claimed)
    assert stream_media(container.engine, gone) == []

    before = container.projections.dump(container.engine)
    assert [row[0] for row in before["speech_records"]] == [kept]
    container.projections.rebuild(container.store)
    assert container.projections.dump(container.engine) == before
