"""Transcription and alignment jobs on the real embedded broker, real SQLite and the bundled models
(Whisper-Tiny.en, PocketSphinx) on real speech: events as decoding goes, resumption after a crash,
silence left out, input errors.

Whisper's output differs a little from one CPU to another, so its transcripts are judged by word
error rate and its times by order and tolerances; where several segments are needed the audio is
``tests.recordings.two_sentences`` (two sentences and a pause: several segments on any CPU)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from app.bootstrap import Container
from domain.events import DomainEvent
from domain.transcription import (
    ALIGNMENT,
    TRANSCRIPTION,
    AlignmentParams,
    SegmentTranscribed,
    TranscriptionParams,
    transcribed_segments,
    transcript_text,
)
from eventstore.base import RecordedEvent
from tests.conftest import JFK, JFK_TEXT
from tests.integration.conftest import wait_for_terminal
from tests.recordings import TWO_SENTENCES_SECONDS, TWO_SENTENCES_TEXT, encoded, noise, silence, two_sentences
from tests.wer import word_error_rate
from workers.engines.audio import decode_audio
from workers.transcription_jobs import transcribe_audio
from workflows.jobs import JobRun

pytestmark = pytest.mark.usefixtures("runtime")


def submit_transcription(container: Container, audio: bytes, **options: Any) -> str:
    params = TranscriptionParams(audio=container.media.put(audio), model="Whisper-Tiny.en", **options)
    return container.jobs.submit(TRANSCRIPTION, params.model_dump())


def segments_of(events: list[RecordedEvent]) -> list[SegmentTranscribed]:
    return transcribed_segments((event.type, event.data) for event in events)


@pytest.fixture(scope="module")
def two_sentences_wav() -> bytes:
    return encoded(two_sentences())


def test_segments_are_recorded_as_decoding_goes(
    container: Container, worker: Callable, two_sentences_wav: bytes
) -> None:
    worker()
    stream_id = submit_transcription(container, two_sentences_wav, word_timestamps=True)
    events = wait_for_terminal(container, stream_id)
    types = [event.type for event in events]
    segment_count = types.count("transcription.segment_transcribed")
    assert segment_count >= 2  # a sentence either side of the pause
    # Each segment is followed by the job's progress where it passes the next 5 % milestone.
    progressed = [event.data for event in events if event.type == "transcription.progressed"]
    assert [t for t in types if t != "transcription.progressed"] == [
        "transcription.requested",
        "transcription.queued",
        "transcription.started",
        "transcription.language_detected",
        *["transcription.segment_transcribed"] * segment_count,
        "transcription.completed",
    ]
    assert types[4] == "transcription.segment_transcribed"
    assert 1 <= len(progressed) <= segment_count
    for index, event in enumerate(events):
        if event.type == "transcription.progressed":
            assert events[index - 1].type == "transcription.segment_transcribed"
            assert event.data["percent"] <= 100 * events[index - 1].data["end"] / TWO_SENTENCES_SECONDS
    assert [p["percent"] for p in progressed] == sorted({p["percent"] for p in progressed})
    segments = segments_of(events)
    assert [s.id for s in segments] == list(range(segment_count))
    result = events[-1].data["result"]
    assert result["text"] == transcript_text(segments)
    assert word_error_rate(TWO_SENTENCES_TEXT, result["text"]) < 0.1
    assert result["language"] == "en" and result["duration"] == pytest.approx(TWO_SENTENCES_SECONDS, abs=0.05)
    assert result["segment_count"] == segment_count and "segments" not in result
    assert result["processing_time_ms"] > 0 and result["rtf"] > 0
    previous_end = 0.0
    for seg in segments:
        assert previous_end <= seg.start <= seg.end <= result["duration"]
        assert seg.words and [w.word for w in seg.words] == seg.text.split()
        for word in seg.words:
            assert seg.start - 0.05 <= word.start <= word.end <= seg.end + 0.05
        previous_end = seg.end
    diagnostics = result["diagnostics"]
    assert diagnostics["model"] == "Whisper-Tiny.en" and diagnostics["model_family"] == "whisper"
    execution = diagnostics["execution"]
    assert execution["device_kind"] == "CPU" and execution["compute_type"].startswith("int8")
    assert execution["worker_id"] == "test-worker" and execution["attempt"] == 1
    assert execution["cpu_threads"] >= 1
    assert diagnostics["word_timestamps"] == {"sources": ["model"], "aligner_model": None}
    assert diagnostics["resumed"] is None


class WorkerKilled(BaseException):
    """Stands for the process dying: nothing in the actor catches it, nothing is recorded."""


class DiesAfterFirstSegment(JobRun):
    def append(self, event: DomainEvent, *id_parts: object) -> None:
        super().append(event, *id_parts)
        if isinstance(event, SegmentTranscribed):
            raise WorkerKilled


def test_a_redelivered_job_resumes_after_its_last_recorded_segment(
    container: Container, worker: Callable, two_sentences_wav: bytes
) -> None:
    audio = two_sentences_wav
    uninterrupted_id = submit_transcription(container, audio, word_timestamps=True)
    crashed_id = submit_transcription(container, audio, word_timestamps=True)

    # The first attempt of the second job dies right after recording its first segment...
    doomed = DiesAfterFirstSegment(container.store, crashed_id, message_id="first", worker="doomed-worker")
    assert doomed.begin()
    with pytest.raises(WorkerKilled):
        transcribe_audio(doomed)
    before = container.store.read_stream(crashed_id)
    assert [s.id for s in segments_of(before)] == [0]

    # ...and its message, still in the queue, is delivered to a live worker.
    worker()
    uninterrupted = wait_for_terminal(container, uninterrupted_id)
    resumed = wait_for_terminal(container, crashed_id)

    types = [event.type for event in resumed]
    assert types[-1] == "transcription.completed"
    assert "transcription.stale" in types and types.count("transcription.started") == 2
    assert types.count("transcription.language_detected") == 1
    segment_events = [e for e in resumed if e.type == "transcription.segment_transcribed"]
    ids = [e.data["id"] for e in segment_events]
    assert ids == list(range(len(ids))) and len(ids) >= 2  # no duplicate, no gap
    assert segment_events[0].event_id == before[-1].event_id  # the first attempt's segment, kept
    first_end = segment_events[0].data["end"]
    assert all(e.data["start"] >= first_end for e in segment_events[1:])

    result = resumed[-1].data["result"]
    expected = uninterrupted[-1].data["result"]["text"]
    # Decoding restarts at the segment boundary: the same words, but for a slip where it restarts.
    assert word_error_rate(expected, result["text"]) <= 0.05
    assert word_error_rate(TWO_SENTENCES_TEXT, result["text"]) < 0.1
    assert result["diagnostics"]["resumed"] == {"from_segment": 1, "from_seconds": first_end}
    assert result["diagnostics"]["execution"]["attempt"] == 2


def test_silence_after_the_speech_is_not_transcribed(container: Container, worker: Callable) -> None:
    """JFK, then 15 s of a quiet room: nothing is heard after JFK stops (Whisper given silence or
    noise invents "Thank you." or "you"); and a recording of silence alone has no transcript."""
    worker()
    jfk_then_noise = encoded(np.concatenate([decode_audio(JFK), noise(15.0)]))
    spoken_id = submit_transcription(container, jfk_then_noise, word_timestamps=True)
    quiet_id = submit_transcription(container, encoded(silence(12.0)), word_timestamps=True)

    spoken = wait_for_terminal(container, spoken_id)
    result = spoken[-1].data["result"]
    assert spoken[-1].type == "transcription.completed"
    assert result["duration"] == pytest.approx(26.0, abs=0.05)
    assert word_error_rate(JFK_TEXT, result["text"]) < 0.1
    segments = segments_of(spoken)
    # JFK's speech ends about 10.5 s in, before jfk.flac does (11 s).
    assert segments and all(s.start < 11.0 and s.end <= 11.5 for s in segments), segments
    words = [word for segment in segments for word in segment.words]
    assert words and all(w.start < 11.0 and w.end <= 11.5 for w in words), words

    quiet = wait_for_terminal(container, quiet_id)
    assert [event.type for event in quiet] == [
        "transcription.requested",
        "transcription.queued",
        "transcription.started",
        "transcription.language_detected",
        "transcription.completed",
    ]
    result = quiet[-1].data["result"]
    assert (result["text"], result["segment_count"], result["language"]) == ("", 0, "en")
    assert result["duration"] == pytest.approx(12.0, abs=0.05)


@pytest.mark.parametrize(
    ("audio", "options", "param"),
    [
        (b"RIFF this is not audio at all", {}, "file"),
        (None, {"language": "fr"}, "language"),  # an English-only model
        (None, {"aligner_model": "Whisper-Tiny.en"}, "aligner_model"),  # not a forced aligner
    ],
)
def test_bad_input_fails_as_an_invalid_request(
    container: Container, worker: Callable, audio: bytes | None, options: dict[str, Any], param: str
) -> None:
    worker()
    stream_id = submit_transcription(container, audio or JFK.read_bytes(), **options)
    events = wait_for_terminal(container, stream_id)
    assert [e.type for e in events] == [
        "transcription.requested",
        "transcription.queued",
        "transcription.started",
        "transcription.failed",
    ]
    failed = events[-1].data
    assert failed["error_type"] == "invalid_request_error" and failed["param"] == param
    assert failed["error"]


def test_a_named_aligner_times_the_words(container: Container, worker: Callable) -> None:
    worker()
    stream_id = submit_transcription(
        container, JFK.read_bytes(), word_timestamps=True, aligner_model="PocketSphinx-en-us"
    )
    events = wait_for_terminal(container, stream_id)
    result = events[-1].data["result"]
    assert result["diagnostics"]["word_timestamps"] == {
        "sources": ["forced_alignment"],
        "aligner_model": "PocketSphinx-en-us",
    }
    words = [word for segment in segments_of(events) for word in segment.words]
    assert [w.word for w in words] == result["text"].split()
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(words))
    assert words[0].start > 0.0 and words[-1].end <= result["duration"]
    # JFK starts speaking about 0.3 s in and says "country." last, a little before 10.5 s.
    assert words[0].start == pytest.approx(0.3, abs=0.25)
    assert words[-1].end == pytest.approx(10.3, abs=0.6)


def test_an_alignment_job(container: Container, worker: Callable) -> None:
    worker()
    digest = container.media.put(JFK.read_bytes())
    good = AlignmentParams(audio=digest, text=JFK_TEXT, model="PocketSphinx-en-us")
    french = AlignmentParams(audio=digest, text=JFK_TEXT, model="PocketSphinx-en-us", language="French")
    good_id = container.jobs.submit(ALIGNMENT, good.model_dump())
    french_id = container.jobs.submit(ALIGNMENT, french.model_dump())

    result = wait_for_terminal(container, good_id)[-1].data["result"]
    assert [a["word"] for a in result["alignments"]] == JFK_TEXT.split()
    assert result["word_count"] == len(JFK_TEXT.split()) and result["duration"] == pytest.approx(
        11.0, abs=0.05
    )
    starts = [a["start"] for a in result["alignments"]]
    assert starts == sorted(starts) and result["alignments"][-1]["end"] <= result["duration"]

    failed = wait_for_terminal(container, french_id)[-1]
    assert failed.type == "alignment.failed"
    assert (failed.data["error_type"], failed.data["param"]) == ("invalid_request_error", "language")
