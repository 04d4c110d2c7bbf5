"""Inline projections are exact functions of the events; Alembic owns a schema equal to the code's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text

import app.projections.tables  # noqa: F401  (registers the projection tables)
import workers.schema  # noqa: F401  (registers the queue tables)
from app.bootstrap import build_projections
from app.projections.jobs import JobsProjection
from app.projections.stt_record_queries import find_record
from app.projections.tables import jobs
from domain.diarization import DIARIZATION, DiarizationParams
from domain.stt_records import JOB_KINDS, RecordDeleted, RecordUpdated
from domain.transcription import (
    TRANSCRIPTION,
    LanguageDetected,
    SegmentTranscribed,
    TranscriptionParams,
    WordTiming,
)
from eventstore.base import dumps
from eventstore.db import make_engine, sqlite_url
from eventstore.projections import ProjectionRegistry
from eventstore.schema import metadata
from eventstore.sql import SqlEventStore
from migrations.api import alembic_config, upgrade
from tests.conftest import NoDispatch, probe_kind
from workflows.jobs import JobRun, JobService, to_new_event


def test_the_migrated_schema_matches_the_code(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_rebuild_reproduces_the_projection_tables_exactly(sqlite_engine: Engine) -> None:
    projections = build_projections()
    store = SqlEventStore(sqlite_engine, projector=projections)
    service = JobService(store, NoDispatch())
    finished = service.submit(probe_kind("actor"), {"steps": 2})
    run = JobRun(store, finished, message_id="m1", worker="w1")
    assert run.begin()
    run.progress("one", 50.0)
    run.complete({"ok": True})
    running = service.submit(probe_kind("actor"))
    JobRun(store, running, message_id="m2", worker="w1").begin()
    cancelled = service.submit(probe_kind("actor"))
    service.request_cancel(cancelled, "changed my mind")
    failed = service.submit(probe_kind("actor", "other"))
    failing = JobRun(store, failed, message_id="m3", worker="w2")
    failing.begin()
    failing.fail("boom")

    before = projections.dump(sqlite_engine)
    rows = {row[0]: row for row in before["jobs"]}
    assert len(rows) == 4
    with sqlite_engine.connect() as connection:
        statuses = dict(connection.execute(select(jobs.c.stream_id, jobs.c.status)).all())
    assert statuses == {finished: "completed", running: "running", cancelled: "cancelled", failed: "failed"}

    replayed = projections.rebuild(store)
    assert replayed == store.last_position()
    assert projections.dump(sqlite_engine) == before


def test_a_failing_projection_rolls_back_the_append(sqlite_engine: Engine) -> None:
    class Exploding:
        name = "exploding"
        tables: list[object] = []

        def apply(self, connection: object, event: object) -> None:
            raise RuntimeError("projection bug")

    projections = build_projections()
    projections.register(Exploding())  # type: ignore[arg-type]
    store = SqlEventStore(sqlite_engine, projector=projections)
    with pytest.raises(RuntimeError, match="projection bug"):
        JobService(store, NoDispatch()).submit(probe_kind("actor"))
    assert store.read_all() == []
    with sqlite_engine.connect() as connection:
        assert connection.execute(select(jobs)).all() == []


def test_streams_that_are_not_jobs_leave_the_jobs_table_alone(sqlite_engine: Engine) -> None:
    from eventstore.base import NewEvent

    projections = build_projections()
    store = SqlEventStore(sqlite_engine, projector=projections)
    # A verb shared with the job lifecycle, in a payload shape of its own.
    store.append("model-tiny", [NewEvent("model.completed", {"bytes": 12})])
    store.append("model-tiny", [NewEvent("model.failed", {"reason": {"nested": True}})])
    assert projections.dump(sqlite_engine)["jobs"] == []


def test_the_media_references_migration_fills_the_table_from_stored_events(tmp_path: Path) -> None:
    """A database at 0002 with records already stored: 0003 claims their media as the projection
    would have, deletions included."""
    url = sqlite_url(tmp_path / "old.db")
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        # The jobs projection's table is 0001's still; today's stt_records projection writes tables
        # 0002 has not (and these jobs are not records: it would add no row).
        old_projections = ProjectionRegistry([JobsProjection()])
        service = JobService(SqlEventStore(engine, projector=old_projections), NoDispatch())
        kept = service.submit(TRANSCRIPTION, {"audio": "a" * 64, "model": "m"})
        gone = service.submit(TRANSCRIPTION, {"audio": "b" * 64, "model": "m"})
        store = SqlEventStore(engine, projector=old_projections)
        store.append(gone, [to_new_event("transcription", RecordDeleted())])
        service.request_cancel(gone)  # a late event of the deleted stream
        upgrade(url)
        migrated = build_projections().dump(engine)["media_references"]
        build_projections().rebuild(SqlEventStore(engine, projector=build_projections()))
        assert build_projections().dump(engine)["media_references"] == migrated
        assert sorted(migrated) == sorted([("a" * 64, kept), ("released", gone)])
    finally:
        engine.dispose()


def _segment(index: int, start: float, said: str, speaker: str | None = None) -> SegmentTranscribed:
    words = tuple(
        WordTiming(word=f" {word}", start=start + i * 0.25, end=start + i * 0.25 + 0.2, probability=0.875)
        for i, word in enumerate(said.split())
    )
    return SegmentTranscribed(
        id=index, start=start, end=start + 1.5, text=f" {said}", words=words, speaker=speaker
    )


def _stored_records(engine: Engine) -> dict[str, dict[str, Any]]:
    """The ``stt_records`` rows as stored, by record id, with whatever columns the revision has."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM stt_records")).mappings()
        return {row["id"]: dict(row) for row in rows}


def test_the_segments_migration_makes_what_a_rebuild_makes(tmp_path: Path) -> None:
    """Records stored at 0006, each with its whole ``segments`` JSON and its running ``text``: 0007
    moves the segments to rows of their own and keeps each transcript, exactly as a rebuild from
    the events makes them; every record reads the same as before."""
    url = sqlite_url(tmp_path / "old.db")
    upgrade(url)
    engine = make_engine(url)
    try:
        projections = build_projections()
        store = SqlEventStore(engine, projector=projections)
        service = JobService(store, NoDispatch())

        def record(job_id: str, **params: Any) -> JobRun:
            values: dict[str, Any] = {"audio": "a" * 64, "model": "m", "record": True, **params}
            stream_id = service.submit(
                TRANSCRIPTION, TranscriptionParams(**values).model_dump(), job_id=job_id
            )
            return started(stream_id)

        def started(stream_id: str) -> JobRun:
            run = JobRun(store, stream_id, message_id=f"m-{stream_id}", worker="w1")
            assert run.begin()
            run.append(LanguageDetected(language="en", duration=20.0))
            return run

        def edit(run: JobRun, event: RecordUpdated | RecordDeleted) -> None:
            store.append(run.stream_id, [to_new_event("transcription", event)])

        segments: dict[str, list[SegmentTranscribed]] = {}

        def said(run: JobRun, *segment: SegmentTranscribed) -> None:
            for one in segment:
                run.append(one, one.id)
                segments.setdefault(run.stream_id.split("-")[1], []).append(one)

        done = record("done")
        said(done, _segment(0, 0.0, "Ask not"), _segment(1, 1.5, "what your country"))
        done.complete({"text": "Ask not what your country", "language": "en", "duration": 3.0})

        running = record("running")
        kenobi = _segment(2, 3.0, "General Kenobi.")
        said(running, _segment(0, 0.0, "Hello there."), _segment(1, 1.5, " "), kenobi)
        running.append(kenobi, "redelivered")  # the same segment again, in an event of its own

        edited = record("edited")
        said(edited, _segment(0, 0.0, "First words"))
        edit(edited, RecordUpdated(text="Written by hand"))
        said(edited, _segment(1, 1.5, "and more"))

        failed = record("failed")
        said(failed, _segment(0, 0.0, "Partial"))
        failed.fail("boom")

        rerun = record("rerun")
        said(rerun, _segment(0, 0.0, "Old run"), _segment(1, 1.5, "of it"))
        rerun.complete({"text": "Old run of it"})
        service.rerun(rerun.stream_id)
        segments["rerun"] = []
        said(started(rerun.stream_id), _segment(0, 0.0, "New run"))

        deleted = record("deleted")
        said(deleted, _segment(0, 0.0, "Gone"))
        edit(deleted, RecordDeleted())

        saa = record("saa", job_kind="speaker_attributed_asr", diarization_model="Resemblyzer")
        said(saa, _segment(0, 0.0, "Hi", "SPEAKER_00"), _segment(1, 1.5, "Hello", "SPEAKER_01"))

        diarized = DiarizationParams(audio="b" * 64, model="Resemblyzer", record=True)
        diarization = service.submit(DIARIZATION, diarized.model_dump())
        service.request_cancel(diarization)
        openai = service.submit(TRANSCRIPTION, {"audio": "c" * 64, "model": "m"})
        said(started(openai), _segment(0, 0.0, "Not a record"))

        ids = ["done", "running", "edited", "failed", "rerun", "saa", diarization.split("-")[1]]
        views = {record_id: find_record(engine, record_id, JOB_KINDS) for record_id in ids}
        tables = projections.dump(engine)
        assert len(tables["stt_record_segments"]) == 2 + 3 + 2 + 1 + 1 + 2

        # The database as 0006 had it: what the projection of that revision made of these events.
        command.downgrade(alembic_config(url), "0006")
        old = _stored_records(engine)
        assert sorted(old) == sorted(ids)
        assert {record_id: row["text"] for record_id, row in old.items()} == {
            "done": "Ask not what your country",
            "running": "Hello there. General Kenobi.",
            "edited": "Written by hand and more",
            "failed": "Partial",
            "rerun": "New run",
            "saa": "Hi Hello",
            ids[-1]: None,
        }
        for record_id, row in old.items():
            assert row["segments"] == dumps([s.payload() for s in segments.get(record_id, [])]), record_id
            assert "text_through" not in row

        upgrade(url)
        assert projections.dump(engine) == tables
        assert {record_id: find_record(engine, record_id, JOB_KINDS) for record_id in ids} == views
        assert projections.rebuild(store) == store.last_position()
        assert projections.dump(engine) == tables
    finally:
        engine.dispose()
