"""The ``stt_records`` projection on a real SQLite event store: records folded from their streams'
events as the workers and routes append them, rebuilt identically from the events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.bootstrap import build_projections
from app.projections.media_refs import stream_media, unclaimed
from app.projections.stt_record_queries import find_record, records_page
from app.projections.tables import stt_record_segments, stt_records
from domain.diarization import (
    DIARIZATION,
    DiarizationParams,
    SpeakersAttributed,
    SpeakersFound,
    SpeakerTurnData,
    SpeechDetected,
)
from domain.stt_records import JOB_KINDS, RecordDeleted, RecordUpdated
from domain.summaries import SummaryCompleted, SummaryFailed, SummaryGenerated, SummaryRequested
from domain.transcription import (
    TRANSCRIPTION,
    LanguageDetected,
    SegmentTranscribed,
    TranscriptionParams,
    WordTiming,
)
from eventstore.base import dumps
from eventstore.projections import ProjectionRegistry
from eventstore.sql import SqlEventStore
from tests.conftest import NoDispatch
from workflows.jobs import JobRun, JobService, to_new_event

DIGEST = "ab" * 32
OTHER_DIGEST = "cd" * 32


class Records:
    """Jobs submitted and run by hand, as the routes and the workers would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.projections: ProjectionRegistry = build_projections()
        self.store = SqlEventStore(engine, projector=self.projections)
        self.jobs = JobService(self.store, NoDispatch())

    def transcription(self, job_id: str, **params: Any) -> str:
        values: dict[str, Any] = {"audio": DIGEST, "model": "Whisper-Tiny.en", "record": True, **params}
        return self.jobs.submit(TRANSCRIPTION, TranscriptionParams(**values).model_dump(), job_id=job_id)

    def diarization(self, job_id: str, **params: Any) -> str:
        values: dict[str, Any] = {"audio": DIGEST, "model": "Resemblyzer", **params}
        return self.jobs.submit(DIARIZATION, DiarizationParams(**values).model_dump(), job_id=job_id)

    def run(self, stream_id: str) -> JobRun:
        run = JobRun(self.store, stream_id, message_id=f"m-{stream_id}", worker="w1")
        assert run.begin()
        return run

    def edit(self, stream_id: str, event: RecordUpdated | RecordDeleted) -> None:
        self.store.append(stream_id, [to_new_event(stream_id.split("-")[0], event)])

    def row(self, record_id: str) -> dict[str, Any] | None:
        return find_record(self.engine, record_id, JOB_KINDS)


@pytest.fixture
def records(sqlite_engine: Engine) -> Records:
    return Records(sqlite_engine)


def _segment(index: int, start: float, end: float, text: str) -> SegmentTranscribed:
    words = tuple(
        WordTiming(word=f" {word}", start=start + i * 0.3, end=start + i * 0.3 + 0.25, probability=0.9)
        for i, word in enumerate(text.split())
    )
    return SegmentTranscribed(id=index, start=start, end=end, text=f" {text}", words=words)


def _transcribe(records: Records, stream_id: str) -> list[float]:
    """Run a 10-second transcription to the end; the progress seen after each event."""
    run = records.run(stream_id)
    seen = [records.row(stream_id.split("-")[1])["progress"]]  # type: ignore[index]
    run.append(LanguageDetected(language="en", probability=0.98, duration=10.0))
    for index, (start, end, text) in enumerate([(0.0, 4.0, "Ask not"), (4.0, 9.5, "what your country")]):
        run.append(_segment(index, start, end, text), index)
        seen.append(records.row(stream_id.split("-")[1])["progress"])  # type: ignore[index]
    run.progress("transcribe", 99.0)
    run.complete({"text": "Ask not what your country", "language": "en", "duration": 10.0, "rtf": 0.1})
    return seen


def test_a_transcription_record_follows_its_job_to_ready(records: Records) -> None:
    stream_id = records.transcription("t1", title="Speech", filename="jfk.flac", content_type="audio/flac")
    row = records.row("t1")
    assert row is not None
    assert (row["processing_status"], row["progress"], row["summary_status"]) == ("queued", 0.0, "none")
    assert (row["title"], row["filename"], row["content_type"], row["audio"]) == (
        "Speech",
        "jfk.flac",
        "audio/flac",
        DIGEST,
    )
    progress = _transcribe(records, stream_id)
    assert progress == sorted(progress) and progress[0] == 0.0
    assert progress[1] == pytest.approx(40.0) and progress[2] == pytest.approx(95.0)
    row = records.row("t1")
    assert row is not None
    assert (row["processing_status"], row["progress"], row["stage"]) == ("ready", 100.0, "transcribe")
    assert (row["language"], row["duration"], row["run"]) == ("en", 10.0, 1)
    assert row["text"] == "Ask not what your country"
    segments = json.loads(row["segments"])
    assert [s["id"] for s in segments] == [0, 1]
    assert [w["word"] for w in segments[1]["words"]] == [" what", " your", " country"]
    assert row["completed_at"] is not None and row["error"] is None
    assert json.loads(row["result"])["rtf"] == 0.1


def test_openai_route_transcriptions_are_not_records(records: Records) -> None:
    records.transcription("plain", record=False)
    assert records.row("plain") is None
    assert records.projections.dump(records.engine)["stt_records"] == []


def test_speaker_attributed_turns_carry_text_and_labels_rename_speakers(records: Records) -> None:
    stream_id = records.transcription(
        "s1", job_kind="speaker_attributed_asr", diarization_model="Resemblyzer", max_speakers=2
    )
    run = records.run(stream_id)
    run.append(LanguageDetected(language="en", duration=4.0))
    run.append(_segment(0, 0.0, 2.0, "Hello there"), 0)
    # Diarization is the first 25 % of the job: the transcript takes it from there to the end.
    assert records.row("s1")["progress"] == pytest.approx(25.0 + 75.0 * 2.0 / 4.0)  # type: ignore[index]
    turns = [
        SpeakerTurnData(speaker="SPEAKER_00", start=0.0, end=1.0, text="Hello"),
        SpeakerTurnData(speaker="SPEAKER_01", start=1.0, end=2.0, text="there"),
    ]
    run.append(SpeakersAttributed(speakers=["SPEAKER_00", "SPEAKER_01"], turns=turns))
    run.complete({"text": "Hello there", "language": "en", "duration": 2.0, "speaker_count": 2})
    records.edit(stream_id, RecordUpdated(speaker_labels={"SPEAKER_01": "Bob"}))
    records.edit(stream_id, RecordUpdated(title="Greeting"))
    row = records.row("s1")
    assert row is not None
    assert (row["job_kind"], row["diarization_model"], row["max_speakers"]) == (
        "speaker_attributed_asr",
        "Resemblyzer",
        2,
    )
    assert json.loads(row["speakers"]) == ["SPEAKER_00", "SPEAKER_01"]
    assert json.loads(row["speaker_turns"])[1] == {
        "speaker": "SPEAKER_01",
        "start": 1.0,
        "end": 2.0,
        "text": "there",
    }
    assert json.loads(row["speaker_labels"]) == {"SPEAKER_01": "Bob"}
    assert row["title"] == "Greeting"


def test_a_diarization_record_shows_its_stages_and_turns(records: Records) -> None:
    stream_id = records.diarization("d1", min_speakers=1, max_speakers=3)
    run = records.run(stream_id)
    run.append(SpeechDetected(duration=20.0, speech_seconds=15.0, span_count=4))
    run.progress("speech", 20.0)
    run.progress("embeddings", 70.0)
    row = records.row("d1")
    assert row is not None
    assert (row["processing_status"], row["stage"], row["progress"], row["duration"]) == (
        "processing",
        "embeddings",
        70.0,
        20.0,
    )
    turns = [SpeakerTurnData(speaker="SPEAKER_00", start=0.5, end=3.0)]
    run.append(SpeakersFound(speakers=["SPEAKER_00"], turns=turns))
    run.complete({"duration": 20.0, "speaker_count": 1, "model": "Resemblyzer"})
    row = records.row("d1")
    assert row is not None
    assert row["processing_status"] == "ready" and row["text"] is None
    assert json.loads(row["speaker_turns"]) == [{"speaker": "SPEAKER_00", "start": 0.5, "end": 3.0}]


def test_summaries_stream_in_and_a_superseded_one_is_ignored(records: Records) -> None:
    stream_id = records.transcription("m1", generate_summary=True)
    assert records.row("m1")["summary_status"] == "pending"  # type: ignore[index]
    _transcribe(records, stream_id)
    append = records.store.append
    category = "transcription"
    append(stream_id, [to_new_event(category, SummaryRequested(summary_id="old", model="Qwen"))])
    append(stream_id, [to_new_event(category, SummaryGenerated(summary_id="old", sequence=0, text="Old"))])
    append(stream_id, [to_new_event(category, SummaryRequested(summary_id="new", model="Qwen"))])
    assert records.row("m1")["summary_status"] == "pending"  # type: ignore[index]
    append(stream_id, [to_new_event(category, SummaryGenerated(summary_id="old", sequence=1, text="!"))])
    append(stream_id, [to_new_event(category, SummaryGenerated(summary_id="new", sequence=0, text="A "))])
    append(stream_id, [to_new_event(category, SummaryGenerated(summary_id="new", sequence=1, text="speech"))])
    row = records.row("m1")
    assert row is not None
    assert (row["summary"], row["summary_status"]) == ("A speech", "generating")
    append(
        stream_id,
        [to_new_event(category, SummaryCompleted(summary_id="new", summary="A speech.", model="Qwen"))],
    )
    row = records.row("m1")
    assert row is not None
    assert (row["summary"], row["summary_status"], row["summary_model"]) == ("A speech.", "ready", "Qwen")
    append(stream_id, [to_new_event(category, SummaryRequested(summary_id="x", model="Qwen"))])
    append(stream_id, [to_new_event(category, SummaryFailed(summary_id="x", error="no model"))])
    row = records.row("m1")
    assert row is not None
    assert (row["summary_status"], row["summary_error"]) == ("failed", "no model")
    records.edit(stream_id, RecordUpdated(summary="Written by hand."))
    row = records.row("m1")
    assert row is not None
    assert (row["summary"], row["summary_status"], row["summary_error"]) == (
        "Written by hand.",
        "ready",
        None,
    )


def test_failed_and_cancelled_jobs(records: Records) -> None:
    failing = records.transcription("f1", generate_summary=True)
    records.run(failing).fail("the audio could not be decoded", "invalid_request_error", "file")
    row = records.row("f1")
    assert row is not None
    assert (row["processing_status"], row["error"]) == ("failed", "the audio could not be decoded")
    assert row["summary_status"] == "none"  # the summary asked for will never come
    cancelled = records.diarization("c1")
    records.jobs.request_cancel(cancelled, "changed my mind")
    assert records.row("c1")["processing_status"] == "cancelled"  # type: ignore[index]


def test_a_rerun_starts_the_results_over_and_keeps_the_title(records: Records) -> None:
    stream_id = records.transcription("r1", title="First")
    _transcribe(records, stream_id)
    records.edit(stream_id, RecordUpdated(title="Renamed", text="Edited"))
    records.jobs.rerun(stream_id)
    row = records.row("r1")
    assert row is not None
    assert (row["run"], row["processing_status"], row["progress"], row["title"]) == (
        2,
        "queued",
        0.0,
        "Renamed",
    )
    assert (row["text"], row["segments"], row["completed_at"], row["result"]) == (None, "[]", None, None)
    rerun = records.run(stream_id)
    rerun.append(LanguageDetected(language="en", duration=10.0))
    rerun.append(_segment(0, 0.0, 5.0, "Again"), 0)
    row = records.row("r1")
    assert row is not None
    assert (row["text"], row["progress"], len(json.loads(row["segments"]))) == ("Again", 50.0, 1)


def test_a_deleted_record_is_gone_and_its_audio_unclaimed_once_no_stream_claims_it(
    records: Records,
) -> None:
    kept = records.transcription("keep")
    stream_id = records.diarization("gone", title="To delete")
    records.transcription("other-audio", audio=OTHER_DIGEST)
    assert stream_media(records.engine, stream_id) == [DIGEST]
    records.edit(stream_id, RecordDeleted())
    assert records.row("gone") is None
    # A late event of the deleted job (its cancellation) brings neither the row nor a claim back.
    records.jobs.request_cancel(stream_id)
    assert records.row("gone") is None and stream_media(records.engine, stream_id) == []
    assert unclaimed(records.engine, [DIGEST, OTHER_DIGEST]) == []  # "keep" has the same audio
    records.edit(kept, RecordDeleted())
    assert unclaimed(records.engine, [DIGEST, OTHER_DIGEST]) == [DIGEST]
    # An OpenAI-route job of the same bytes claims them again (its audit names them).
    records.transcription("openai", record=False)
    assert unclaimed(records.engine, [DIGEST]) == []


def test_pages_are_newest_first_and_filtered_by_kind(records: Records) -> None:
    for index in range(3):
        records.transcription(f"t{index}")
        records.diarization(f"d{index}")
    first, more = records_page(records.engine, JOB_KINDS, None, 4)
    assert [r["id"] for r in first] == ["d2", "t2", "d1", "t1"] and more
    rest, more = records_page(records.engine, JOB_KINDS, first[-1]["created_position"], 4)
    assert [r["id"] for r in rest] == ["d0", "t0"] and not more
    assert "segments" not in first[0]
    only, _ = records_page(records.engine, ("diarization",), None, 10)
    assert [r["id"] for r in only] == ["d2", "d1", "d0"]
    assert find_record(records.engine, "d1", ("transcription",)) is None


def test_rebuild_reproduces_the_records_exactly(records: Records) -> None:
    done = records.transcription("a", title="A", generate_summary=True)
    _transcribe(records, done)
    records.store.append(
        done, [to_new_event("transcription", SummaryRequested(summary_id="s", model="Qwen"))]
    )
    records.edit(done, RecordUpdated(title="A2"))
    running = records.diarization("b")
    records.run(running).append(SpeechDetected(duration=3.0, speech_seconds=2.0, span_count=1))
    rerun = records.transcription("c")
    _transcribe(records, rerun)
    records.jobs.rerun(rerun)
    deleted = records.transcription("d")
    records.edit(deleted, RecordDeleted())
    records.transcription("e", record=False)

    before = records.projections.dump(records.engine)
    assert sorted(row[1] for row in before["stt_records"]) == ["a", "b", "c"]
    assert records.projections.rebuild(records.store) == records.store.last_position()
    assert records.projections.dump(records.engine) == before


def _stored(records: Records, stream_id: str) -> tuple[Any, ...]:
    """What the tables hold for a record: its stored text and ``text_through``, its segment ids."""
    with records.engine.connect() as connection:
        row = connection.execute(
            select(stt_records.c.text, stt_records.c.text_through).where(stt_records.c.stream_id == stream_id)
        ).first()
        ids = connection.execute(
            select(stt_record_segments.c.id)
            .where(stt_record_segments.c.stream_id == stream_id)
            .order_by(stt_record_segments.c.id)
        ).scalars()
        return (tuple(row) if row is not None else None, list(ids))


def test_segments_are_rows_and_the_running_transcript_is_read_from_them(records: Records) -> None:
    stream_id = records.transcription("long")
    run = records.run(stream_id)
    run.append(LanguageDetected(language="en", duration=10.0))
    run.append(_segment(0, 0.0, 2.0, "Hello there."), 0)
    run.append(SegmentTranscribed(id=1, start=2.0, end=3.0, text="  "), 1)  # adds no words
    run.append(_segment(2, 3.0, 5.0, "General Kenobi."), 2)
    seen = records.row("long")
    assert seen is not None
    # A redelivered segment (another event, the same id) changes nothing.
    run.append(_segment(2, 3.0, 9.0, "General Kenobi, again."), "redelivered")
    row = records.row("long")
    assert row is not None
    assert (row["text"], row["progress"]) == ("Hello there. General Kenobi.", 50.0)
    assert row["segments"] == seen["segments"]
    assert [s["id"] for s in json.loads(row["segments"])] == [0, 1, 2]
    page, _ = records_page(records.engine, JOB_KINDS, None, 10)
    assert page[0]["text"] == "Hello there. General Kenobi." and "text_through" not in page[0]
    assert "text_through" not in row
    # Nothing of the transcript is stored while the job runs: each segment was one insert.
    assert _stored(records, stream_id) == ((None, None), [0, 1, 2])

    # An edit replaces the transcript so far; the segments after it add to the edit.
    records.edit(stream_id, RecordUpdated(text="Edited."))
    run.append(_segment(3, 5.0, 6.0, "More."), 3)
    assert records.row("long")["text"] == "Edited. More."  # type: ignore[index]
    assert _stored(records, stream_id) == (("Edited.", 2), [0, 1, 2, 3])
    page, _ = records_page(records.engine, JOB_KINDS, None, 10)
    assert page[0]["text"] == "Edited. More."

    # The job's end stores the transcript once.
    run.fail("out of memory")
    assert _stored(records, stream_id) == (("Edited. More.", 3), [0, 1, 2, 3])
    assert records.row("long")["text"] == "Edited. More."  # type: ignore[index]

    records.jobs.rerun(stream_id)
    assert _stored(records, stream_id) == ((None, None), [])
    rerun = records.run(stream_id)
    rerun.append(_segment(0, 0.0, 1.0, "Again."), 0)
    assert records.row("long")["text"] == "Again."  # type: ignore[index]
    records.edit(stream_id, RecordDeleted())
    assert _stored(records, stream_id) == (None, [])


def test_a_completed_transcript_is_the_results_text(records: Records) -> None:
    stream_id = records.transcription("done")
    _transcribe(records, stream_id)
    assert _stored(records, stream_id) == (("Ask not what your country", 1), [0, 1])
    records.edit(stream_id, RecordUpdated(text="Ask not."))
    assert _stored(records, stream_id) == (("Ask not.", 1), [0, 1])
    assert records.row("done")["text"] == "Ask not."  # type: ignore[index]


def test_a_records_segments_read_back_byte_for_byte_as_their_events_carried_them(records: Records) -> None:
    stream_id = records.transcription("exact", job_kind="speaker_attributed_asr", diarization_model="R")
    run = records.run(stream_id)
    said = [
        SegmentTranscribed(
            id=0,
            start=0.1 + 0.2,
            end=1e-7,
            text=' "Quoted", back\\slash, tab\t, new\nline, \u00e9t\u00e9 \U0001f600 \x01',
            words=(WordTiming(word=" \u00e9t\u00e9", start=0.0, end=1e21, probability=1.0),),
            speaker="SPEAKER_\u00c9",
        ),
        SegmentTranscribed(id=1, start=2, end=3, text=" plain"),
    ]
    for segment in said:
        run.append(segment, segment.id)
    row = records.row("exact")
    assert row is not None
    assert row["segments"] == dumps([segment.payload() for segment in said])
