"""The speech actor with real Piper on the real embedded broker: chunk events, media objects,
refusals as input errors, resuming after a crash, and audio that Whisper can understand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
import numpy as np
import pytest

from app.bootstrap import Container
from domain.catalog import find_variant
from domain.speech import SPEECH, SpeechChunkSynthesized, SpeechParams
from eventstore.base import RecordedEvent
from tests.integration.conftest import (
    finish_after_restart,
    stop_worker_mid_job,
    wait_for_events,
    wait_for_terminal,
)
from tests.wer import word_error_rate
from workers.engines.audio import decode_audio, encode_audio
from workers.engines.base import SAMPLE_RATE
from workers.engines.registry import EngineRegistry

pytestmark = pytest.mark.usefixtures("runtime")

PIPER = "Piper-Joe-Medium"
PIPER_RATE = 22_050
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call me tomorrow morning.",
)
PLAIN_TEXT = (
    "The weather was warm and sunny all day. Please call me tomorrow morning. "
    "We will meet at the library after lunch."
)
LONG_TEXT = " ".join(f"This is sentence number {n} of a long story." for n in range(1, 13))
CHUNK = "speech.chunk_synthesized"


def submit(container: Container, text: str, **fields: Any) -> str:
    params = SpeechParams(input=text, **{"model": PIPER, **fields})
    return str(container.jobs.submit(SPEECH, params.model_dump(mode="json")))


def chunks_of(events: list[RecordedEvent]) -> list[SpeechChunkSynthesized]:
    return [SpeechChunkSynthesized.model_validate(e.data) for e in events if e.type == CHUNK]


def stored_samples(container: Container, chunks: list[SpeechChunkSynthesized]) -> np.ndarray:
    return np.concatenate([np.frombuffer(container.media.read(c.media), dtype="<f4") for c in chunks])


def test_each_sentence_is_a_chunk_event_with_its_audio_in_the_media_store(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    stream_id = submit(container, "  ".join(SENTENCES) + " ...")
    events = wait_for_terminal(container, stream_id)

    assert [e.type for e in events] == [
        "speech.requested",
        "speech.queued",
        "speech.started",
        "speech.synthesis_planned",
        CHUNK,
        CHUNK,
        CHUNK,
        "speech.completed",
    ]
    plan = events[3].data
    assert plan == {"model": PIPER, "voice": "default", "sample_rate": PIPER_RATE, "sentence_count": 3}
    chunks = chunks_of(events)
    assert [c.sequence for c in chunks] == [0, 1, 2]
    assert [c.text for c in chunks] == list(SENTENCES)  # the trailing "..." has nothing to say
    assert [c.is_final for c in chunks] == [False, False, True]
    for chunk in chunks:
        assert chunk.sample_rate == PIPER_RATE and chunk.sample_format == "f32le"
        assert container.media.size(chunk.media) == chunk.sample_count * 4
        assert chunk.sample_count > PIPER_RATE // 2  # every sentence lasts well over half a second
        assert chunk.generation_ms > 0
    samples = stored_samples(container, chunks)
    assert np.abs(samples).max() > 0.1  # real speech, not silence

    result = events[-1].data["result"]
    total = sum(c.sample_count for c in chunks)
    assert result["model"] == PIPER and result["voice"] == "default"
    assert result["chunk_count"] == 3 and result["sample_count"] == total
    assert result["audio_duration_secs"] == pytest.approx(total / PIPER_RATE, abs=1e-3)
    assert result["tokens_generated"] is None
    assert 0 < result["rtf"] < 5
    assert result["generation_time_ms"] == pytest.approx(sum(c.generation_ms for c in chunks), abs=0.5)


def test_piper_speech_is_intelligible_to_whisper(
    container: Container, engines: EngineRegistry, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    events = wait_for_terminal(container, submit(container, PLAIN_TEXT))
    assert events[-1].type == "speech.completed"
    wav = encode_audio(stored_samples(container, chunks_of(events)), PIPER_RATE, "wav")

    variant = find_variant("Whisper-Tiny.en")
    assert variant is not None
    _, segments = engines.get(variant).transcribe(decode_audio(wav, SAMPLE_RATE), language="en")
    heard = " ".join(segment.text for segment in segments)
    assert word_error_rate(PLAIN_TEXT, heard) <= 0.15, heard


def test_an_unknown_voice_fails_the_job_as_an_input_error_before_any_audio(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    events = wait_for_terminal(container, submit(container, "Hello there.", voice="alloy"))
    types = [e.type for e in events]
    assert types == ["speech.requested", "speech.queued", "speech.started", "speech.failed"]
    failed = events[-1].data
    assert failed["error_type"] == "invalid_request_error" and failed["param"] == "voice"
    assert "'alloy'" in failed["error"] and PIPER in failed["error"] and "default" in failed["error"]


def test_espeak_takes_its_own_voice_names_and_refuses_an_unknown_language(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    spoken = submit(container, "Bonjour. Au revoir.", model="eSpeak-NG", voice="fr")
    unknown = submit(container, "Hello.", model="eSpeak-NG", language="xx")
    events = wait_for_terminal(container, spoken)
    assert events[-1].type == "speech.completed", events[-1].data
    assert [c.text for c in chunks_of(events)] == ["Bonjour.", "Au revoir."]
    assert all(c.sample_count > 0 for c in chunks_of(events))
    failed = wait_for_terminal(container, unknown)[-1]
    assert failed.type == "speech.failed" and failed.data["param"] == "language"
    assert "'xx'" in failed.data["error"] and "eSpeak-NG" in failed.data["error"]


def test_nothing_to_say_is_an_input_error(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    worker()
    failed = wait_for_terminal(container, submit(container, "?! ... --"))[-1]
    assert failed.type == "speech.failed" and failed.data["param"] == "input"


def test_a_job_redelivered_after_a_crash_resumes_without_duplicating_chunks(
    container: Container, engines: EngineRegistry
) -> None:
    stream_id, before = stop_worker_mid_job(
        container, engines, lambda: submit(container, LONG_TEXT), lambda events: len(chunks_of(events)) >= 2
    )
    recorded_before = chunks_of(before)
    assert 2 <= len(recorded_before) < 12

    events = finish_after_restart(container, engines, stream_id)

    types = [e.type for e in events]
    assert types[-1] == "speech.completed"
    assert types.count("speech.synthesis_planned") == 1
    assert types.count("speech.stale") == 1 and types.count("speech.started") == 2
    chunks = chunks_of(events)
    assert [c.sequence for c in chunks] == list(range(12))
    assert chunks[: len(recorded_before)] == recorded_before  # kept as first recorded, not redone
    assert [c.is_final for c in chunks].count(True) == 1 and chunks[-1].is_final
    assert len({e.event_id for e in events}) == len(events)
    # Sentences recorded before the crash were skipped, not synthesized again: one object each.
    stored = [path for path in container.settings.media_dir.rglob("*") if path.is_file()]
    assert sorted(path.name for path in stored) == sorted(c.media for c in chunks)
    result = events[-1].data["result"]
    assert result["chunk_count"] == 12 and result["sample_count"] == sum(c.sample_count for c in chunks)


def test_a_cancel_stops_between_sentences_with_every_recorded_chunk_kept(
    container: Container, worker: Callable[[], dramatiq.Worker]
) -> None:
    """A chunk is recorded while the next sentence is synthesized; a cancel is honoured after the
    chunk in flight is recorded, so the chunks run 0…k-1 with their audio and none follows."""
    worker()
    stream_id = submit(container, LONG_TEXT)
    wait_for_events(container, stream_id, lambda events: len(chunks_of(events)) >= 2)
    container.jobs.request_cancel(stream_id)
    events = wait_for_terminal(container, stream_id)

    types = [e.type for e in events]
    assert types[-1] == "speech.cancelled"
    chunks = chunks_of(events)
    assert [c.sequence for c in chunks] == list(range(len(chunks))) and 2 <= len(chunks) < 12
    assert types.index("speech.cancel_requested") > types.index(CHUNK)
    assert CHUNK not in types[types.index("speech.cancelled") :]
    for chunk in chunks:
        assert len(container.media.read(chunk.media)) == 4 * chunk.sample_count


def test_a_compressed_format_is_encoded_by_the_worker_not_the_web_process(
    container: Container, worker: Callable[[], dramatiq.Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MP3 chunks for a stream, one MP3 for a whole body: the worker stores them, and the web
    process's readers only read them back (its encoder is never called)."""
    from app.routes.speech import stream

    worker()
    streamed = submit(container, PLAIN_TEXT, audio_format="mp3", response_format="mp3", stream=True)
    whole = submit(container, PLAIN_TEXT, audio_format="mp3", response_format="mp3")
    streamed_events, whole_events = (
        wait_for_terminal(container, streamed),
        wait_for_terminal(container, whole),
    )
    chunks = chunks_of(streamed_events)
    assert len(chunks) == 3 and all(chunk.encoded for chunk in chunks)
    assert not any(chunk.encoded for chunk in chunks_of(whole_events))
    result = whole_events[-1].data["result"]
    assert streamed_events[-1].data["result"].get("encoded_audio") is None

    def no_encoder(*args: object) -> bytes:
        raise AssertionError("the web process encoded audio")

    monkeypatch.setattr(stream, "encode_audio", no_encoder)
    for chunk in chunks:
        mp3 = stream.chunk_audio(container.media, chunk, "mp3")
        assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
        assert decode_audio_bytes(mp3).size > 0
    body = stream.whole_audio(container.media, chunks_of(whole_events), result, "mp3")
    decoded = decode_audio_bytes(body)
    expected = sum(chunk.sample_count for chunk in chunks_of(whole_events)) / PIPER_RATE
    assert decoded.size / SAMPLE_RATE == pytest.approx(expected, abs=0.15)


def decode_audio_bytes(data: bytes) -> np.ndarray:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".mp3") as file:
        file.write(data)
        file.flush()
        return decode_audio(file.name)
