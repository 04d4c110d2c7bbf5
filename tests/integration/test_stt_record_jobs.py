"""Speech-to-text record jobs on the real broker, real SQLite and the bundled models: diarization
(Silero VAD + Resemblyzer), speaker-attributed ASR (Whisper-Tiny.en + the diarizer), long
recordings transcribed window by window, resumption, reruns and cancellation.

``stereo_diarization.wav`` holds one speaker a channel, and they overlap (``tests.two_speakers``):
its mono mix has one sentence inside the other; the overlap-free case is the two channels one
after the other.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.bootstrap import Container
from domain.diarization import DIARIZATION, DiarizationParams, SpeakersAttributed, SpeakersFound
from domain.events import DomainEvent
from domain.transcription import TRANSCRIPTION, SegmentTranscribed, TranscriptionParams
from eventstore.base import RecordedEvent
from tests.conftest import JFK, JFK_TEXT
from tests.integration.conftest import wait_for_events, wait_for_terminal
from tests.two_speakers import (
    LEFT_SENTENCE,
    RIGHT_SENTENCE,
    STEREO,
    assert_each_sentence_has_one_speaker,
    turn_taking,
)
from tests.wer import normalize, word_error_rate
from workers import audio_windows
from workers.audio_windows import DecodedAudio, Windowing, windows
from workers.diarization_jobs import diarize_audio
from workers.engines.audio import decode_audio, encode_audio
from workers.engines.base import SAMPLE_RATE
from workers.transcription_jobs import transcribe_audio
from workflows.jobs import JobCancelledError, JobRun

SHORT_WINDOWS = Windowing(window_s=20.0, search_s=8.0)
"""Windows a 66 s test recording needs several of (production windows are 2 minutes)."""


pytestmark = pytest.mark.usefixtures("runtime")


@pytest.fixture(scope="module")
def jfk_six() -> bytes:
    """JFK's sentence six times over (66 s), as WAV."""
    return encode_audio(np.concatenate([decode_audio(JFK)] * 6), SAMPLE_RATE, "wav")


@pytest.fixture(scope="module")
def channels_in_turn() -> bytes:
    """The left-hand speaker, a pause, then the right-hand one: the two sentences without overlap."""
    left, right = decode_audio(STEREO, channel=0), decode_audio(STEREO, channel=1)
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    return encode_audio(np.concatenate([left, pause, right[: round(2.8 * SAMPLE_RATE)]]), SAMPLE_RATE, "wav")


@pytest.fixture
def short_windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[Windowing]:
    monkeypatch.setattr(audio_windows, "WINDOWING", SHORT_WINDOWS)
    yield SHORT_WINDOWS


def submit_record(container: Container, audio: bytes, **options: Any) -> str:
    params = TranscriptionParams(
        audio=container.media.put(audio), model="Whisper-Tiny.en", record=True, **options
    )
    return container.jobs.submit(TRANSCRIPTION, params.model_dump())


def submit_diarization(container: Container, audio: bytes, **options: Any) -> str:
    params = DiarizationParams(audio=container.media.put(audio), model="Resemblyzer", **options)
    return container.jobs.submit(DIARIZATION, params.model_dump())


def kinds(events: list[RecordedEvent]) -> list[str]:
    return [event.type.partition(".")[2] for event in events]


def one(events: list[RecordedEvent], verb: str) -> dict[str, Any]:
    found = [event.data for event in events if event.type.partition(".")[2] == verb]
    assert len(found) == 1, kinds(events)
    return found[0]


def words_of(events: list[RecordedEvent]) -> list[dict[str, Any]]:
    return [word for e in events if e.type.endswith(".segment_transcribed") for word in e.data["words"]]


def majority_speaker(turns: list[dict[str, Any]], start: float, end: float) -> tuple[str, float]:
    """The speaker whose turns cover most of ``[start, end]``, and the share they cover."""
    cover: dict[str, float] = {}
    for turn in turns:
        cover[turn["speaker"]] = cover.get(turn["speaker"], 0.0) + max(
            0.0, min(end, turn["end"]) - max(start, turn["start"])
        )
    best = max(cover, key=lambda speaker: cover[speaker])
    return best, cover[best] / (end - start)


# --- diarization --------------------------------------------------------------------------------


def test_a_diarization_finds_the_two_speakers_of_the_mix(container: Container, worker: Callable) -> None:
    worker()
    stream_id = submit_diarization(container, STEREO.read_bytes())
    events = wait_for_terminal(container, stream_id)
    assert kinds(events) == [
        "requested",
        "queued",
        "started",
        "speech_detected",
        "progressed",
        "progressed",
        "progressed",
        "speakers_found",
        "completed",
    ]
    steps = [(e.data["step"], e.data["percent"]) for e in events if e.type.endswith(".progressed")]
    assert [step for step, _ in steps] == ["speech", "embeddings", "clustering"]
    assert [percent for _, percent in steps] == sorted(percent for _, percent in steps)

    speech = one(events, "speech_detected")
    assert speech["duration"] == pytest.approx(5.0, abs=0.05)
    assert 3.0 < speech["speech_seconds"] <= speech["duration"] and speech["span_count"] >= 1

    found = SpeakersFound.model_validate(one(events, "speakers_found"))
    assert found.speakers == ["SPEAKER_00", "SPEAKER_01"]
    turns = [turn.model_dump() for turn in found.turns]
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(turns))
    # The right-hand speaker's sentence (inside the left one's) and the left one alone differ.
    during, during_share = majority_speaker(turns, 0.5, 2.0)
    alone, alone_share = majority_speaker(turns, 3.0, 4.8)
    assert during != alone and during_share >= 0.9 and alone_share >= 0.9

    result = events[-1].data["result"]
    assert result["duration"] == pytest.approx(5.0, abs=0.05)
    assert result["speaker_count"] == 2 and result["model"] == "Resemblyzer"
    assert result["processing_time_ms"] > 0 and result["rtf"] > 0


def test_speaker_bounds_are_honoured_and_checked(container: Container, worker: Callable) -> None:
    worker()
    one_speaker = submit_diarization(container, STEREO.read_bytes(), max_speakers=1)
    backwards = submit_diarization(container, STEREO.read_bytes(), min_speakers=3, max_speakers=2)
    assert wait_for_terminal(container, one_speaker)[-1].data["result"]["speaker_count"] == 1
    failed = wait_for_terminal(container, backwards)[-1]
    assert failed.type == "diarization.failed"
    assert (failed.data["error_type"], failed.data["param"]) == ("invalid_request_error", "min_speakers")


def test_a_rerun_of_a_completed_diarization_appends_a_second_run(
    container: Container, worker: Callable
) -> None:
    worker()
    stream_id = submit_diarization(container, STEREO.read_bytes())
    first = wait_for_terminal(container, stream_id)
    container.jobs.rerun(stream_id)

    def two_runs_ended(events: list[RecordedEvent]) -> bool:
        return kinds(events).count("completed") == 2

    events = wait_for_events(container, stream_id, two_runs_ended)
    second = events[len(first) :]
    assert kinds(second) == kinds(first)
    assert second[0].data["run"] == 2 and second[0].data["params"] == first[0].data["params"]
    assert not {e.event_id for e in first} & {e.event_id for e in second}
    assert one(second, "speakers_found") == one(first, "speakers_found")


class CancelledAfterSpeech(JobRun):
    """Someone cancels the job while its speech is being found."""

    def __init__(self, container: Container, stream_id: str) -> None:
        super().__init__(container.store, stream_id, message_id="cancelled", worker="this-test")
        self.jobs = container.jobs

    def progress(self, step: str, percent: float, detail: dict[str, Any] | None = None) -> None:
        super().progress(step, percent, detail)
        if step == "speech":
            self.jobs.request_cancel(self.stream_id)


def test_a_diarization_stops_between_steps_when_cancelled(container: Container) -> None:
    stream_id = submit_diarization(container, STEREO.read_bytes())
    run = CancelledAfterSpeech(container, stream_id)
    assert run.begin()
    with pytest.raises(JobCancelledError):
        diarize_audio(run)
    assert kinds(container.store.read_stream(stream_id)) == [
        "requested",
        "queued",
        "started",
        "speech_detected",
        "progressed",
        "cancel_requested",
        "cancelled",
    ]


# --- speaker-attributed ASR ---------------------------------------------------------------------


def test_speaker_attributed_asr_of_the_two_channels_in_turn(
    container: Container, worker: Callable, channels_in_turn: bytes
) -> None:
    worker()
    stream_id = submit_record(container, channels_in_turn, job_kind="speaker_attributed_asr")
    events = wait_for_terminal(container, stream_id)
    types = kinds(events)
    # Diarized first, then transcribed one speaker's stretch at a time.
    assert types[3:9] == [
        "speech_detected",
        "progressed",
        "progressed",
        "progressed",
        "speakers_found",
        "language_detected",
    ]
    assert types[9] == "segment_transcribed" and types[-2:] == ["speakers_attributed", "completed"]
    # Segments move the job on from where diarization left it, in 5 % milestones.
    assert set(types[9:-2]) == {"segment_transcribed", "progressed"}
    moved = [e.data for e in events[9:-2] if e.type.endswith(".progressed")]
    assert moved and {m["step"] for m in moved} == {"transcription"}
    percents = [m["percent"] for m in moved]
    assert percents == sorted(set(percents)) and percents[0] > 25.0 and percents[-1] <= 95.0
    assert all(percent % 5 == 0 for percent in percents)

    attributed = SpeakersAttributed.model_validate(one(events, "speakers_attributed"))
    assert attributed.speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert [turn.speaker for turn in attributed.turns] == ["SPEAKER_00", "SPEAKER_01"]
    left, right = attributed.turns
    assert word_error_rate(LEFT_SENTENCE, left.text or "") <= 0.2
    assert word_error_rate(RIGHT_SENTENCE, right.text or "") <= 0.2
    # Every segment is one speaker's, inside that speaker's turn, and the turns' texts are the
    # transcript.
    segments = segments_of(events)
    assert all(
        any(
            t.speaker == s["speaker"] and t.start <= s["start"] <= s["end"] <= t.end for t in attributed.turns
        )
        for s in segments
    )
    assert normalize(" ".join(t.text or "" for t in attributed.turns)) == normalize(
        " ".join(s["text"] for s in segments)
    )
    assert words_of(events)
    result = events[-1].data["result"]
    assert result["speaker_count"] == 2
    assert result["diagnostics"]["diarization_model"] == "Senko-Diarization"  # the default


def test_speaker_attributed_asr_of_two_speakers_taking_turns(container: Container, worker: Callable) -> None:
    """Each speaker's stretch decoded on its own gives each sentence to its speaker. (Turns, not the
    overlapping mix: which blend of two voices the embedded diarizer calls whose depends on the
    CPU's numerics.)"""
    worker()
    conversation = encode_audio(turn_taking(), SAMPLE_RATE, "wav")
    stream_id = submit_record(container, conversation, job_kind="speaker_attributed_asr")
    events = wait_for_terminal(container, stream_id)
    attributed = SpeakersAttributed.model_validate(one(events, "speakers_attributed"))
    assert attributed.speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert_each_sentence_has_one_speaker(turn.model_dump() for turn in attributed.turns)
    assert {segment["speaker"] for segment in segments_of(events)} == {"SPEAKER_00", "SPEAKER_01"}


# --- long recordings ----------------------------------------------------------------------------


def segments_of(events: list[RecordedEvent]) -> list[dict[str, Any]]:
    return [event.data for event in events if event.type.endswith(".segment_transcribed")]


def window_cuts(container: Container, audio: bytes) -> list[float]:
    path = container.media.path(container.media.put(audio))
    with DecodedAudio.decode(Path(path)) as decoded:
        return [first / SAMPLE_RATE for first, _ in windows(decoded)][1:]


def test_a_long_recording_is_transcribed_window_by_window(
    container: Container, worker: Callable, jfk_six: bytes, short_windows: Windowing
) -> None:
    worker()
    stream_id = submit_record(container, jfk_six)
    events = wait_for_terminal(container, stream_id, timeout=180)
    assert events[-1].type == "transcription.completed"
    segments = segments_of(events)
    assert [s["id"] for s in segments] == list(range(len(segments)))

    cuts = window_cuts(container, jfk_six)
    assert len(cuts) >= 2  # three windows at least
    for cut in cuts:  # each window decoded on its own: no segment runs across a cut
        assert not [s for s in segments if s["start"] < cut - 0.01 and s["end"] > cut + 0.01]

    # Compared with the reference rather than with one pass over the whole file: on repeated
    # speech faster-whisper's compression-ratio fallback samples, so a one-pass text varies.
    result = events[-1].data["result"]
    assert result["duration"] == pytest.approx(66.0, abs=0.05)
    assert word_error_rate(" ".join([JFK_TEXT] * 6), result["text"]) <= 0.05


class WorkerKilled(BaseException):
    """Stands for the process dying: nothing in the actor catches it, nothing is recorded."""


class DiesAfterSegment(JobRun):
    """Dies right after recording the first segment that ``dies_after`` picks."""

    def __init__(
        self, container: Container, stream_id: str, dies_after: Callable[[SegmentTranscribed], bool]
    ) -> None:
        super().__init__(container.store, stream_id, message_id="first", worker="doomed-worker")
        self.dies_after = dies_after

    def append(self, event: DomainEvent, *id_parts: object) -> None:
        super().append(event, *id_parts)
        if isinstance(event, SegmentTranscribed) and self.dies_after(event):
            raise WorkerKilled


def test_a_long_recording_resumes_after_a_crash_without_repeats(
    container: Container, worker: Callable, jfk_six: bytes, short_windows: Windowing
) -> None:
    uninterrupted_id = submit_record(container, jfk_six)
    crashed_id = submit_record(container, jfk_six)
    # Dies after the second window's first segment (how many the first window has varies by CPU).
    first_cut = window_cuts(container, jfk_six)[0]
    doomed = DiesAfterSegment(container, crashed_id, lambda segment: segment.start >= first_cut - 0.01)
    assert doomed.begin()
    with pytest.raises(WorkerKilled):
        transcribe_audio(doomed)
    before = segments_of(container.store.read_stream(crashed_id))
    assert [s["id"] for s in before] == list(range(len(before))) and len(before) >= 2
    assert before[-1]["end"] > first_cut

    worker()
    uninterrupted = wait_for_terminal(container, uninterrupted_id, timeout=180)
    resumed = wait_for_terminal(container, crashed_id, timeout=180)
    assert resumed[-1].type == "transcription.completed" and "stale" in kinds(resumed)
    assert kinds(resumed).count("language_detected") == 1
    segments = segments_of(resumed)
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert segments[: len(before)] == before
    assert all(later["start"] >= before[-1]["end"] for later in segments[len(before) :])
    assert len({e.event_id for e in resumed}) == len(resumed)
    expected = uninterrupted[-1].data["result"]["text"]
    assert word_error_rate(expected, resumed[-1].data["result"]["text"]) <= 0.05


def test_speaker_attributed_asr_resumes_with_the_speakers_it_found(
    container: Container, worker: Callable, channels_in_turn: bytes
) -> None:
    """A crash after the first speaker's stretch: the redelivered job keeps the diarization and
    the segment, and transcribes only the second speaker."""
    stream_id = submit_record(container, channels_in_turn, job_kind="speaker_attributed_asr")
    doomed = DiesAfterSegment(container, stream_id, lambda segment: segment.id == 0)
    assert doomed.begin()
    with pytest.raises(WorkerKilled):
        transcribe_audio(doomed)
    before = segments_of(container.store.read_stream(stream_id))
    assert [(s["id"], s["speaker"]) for s in before] == [(0, "SPEAKER_00")]

    worker()
    events = wait_for_terminal(container, stream_id, timeout=120)
    types = kinds(events)
    assert types[-1] == "completed" and "stale" in types
    for verb in ("speech_detected", "speakers_found", "language_detected", "speakers_attributed"):
        assert types.count(verb) == 1, (verb, types)
    segments = segments_of(events)
    assert segments[0] == before[0]
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert {s["speaker"] for s in segments[1:]} == {"SPEAKER_01"}
    assert len({e.event_id for e in events}) == len(events)
    attributed = SpeakersAttributed.model_validate(one(events, "speakers_attributed"))
    assert word_error_rate(RIGHT_SENTENCE, attributed.turns[-1].text or "") <= 0.2


def test_speaker_attributed_asr_of_the_overlapping_mix(container: Container, worker: Callable) -> None:
    """The mono mix, one sentence inside the other: the default diarizer hears two voices at once
    (its turns overlap), the stretch where they overlap is decoded as the interrupting speaker's,
    and the words after it, where one voice is left, go to the speaker who outlasts the overlap."""
    worker()
    mix = np.mean(np.stack([decode_audio(STEREO, channel=0), decode_audio(STEREO, channel=1)]), axis=0)
    audio = encode_audio(mix.astype(np.float32), SAMPLE_RATE, "wav")
    stream_id = submit_record(container, audio, job_kind="speaker_attributed_asr")
    events = wait_for_terminal(container, stream_id)
    found = SpeakersFound.model_validate(one(events, "speakers_found"))
    assert found.speakers == ["SPEAKER_00", "SPEAKER_01"]
    first, second = ([turn for turn in found.turns if turn.speaker == speaker] for speaker in found.speakers)
    assert any(a.start < b.end and b.start < a.end for a in first for b in second)  # both at once
    last = max(found.turns, key=lambda turn: turn.end)
    attributed = SpeakersAttributed.model_validate(one(events, "speakers_attributed"))
    closing = {"vanished", "behind", "curtain", "left"}
    owners = {turn.speaker for turn in attributed.turns if closing & set(normalize(turn.text or ""))}
    assert owners == {last.speaker}, attributed.turns
