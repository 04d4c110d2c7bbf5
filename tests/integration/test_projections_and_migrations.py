"""Inline projections are exact functions of the events; Alembic owns a schema equal to the code's."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

import app.projections.tables  # noqa: F401  (registers the projection tables)
import workers.schema  # noqa: F401  (registers the queue tables)
from app.bootstrap import build_projections
from app.projections.jobs import JobsProjection
from app.projections.stt_records import SttRecordsProjection
from app.projections.tables import jobs
from domain.stt_records import RecordDeleted
from domain.transcription import TRANSCRIPTION
from eventstore.db import make_engine, sqlite_url
from eventstore.projections import ProjectionRegistry
from eventstore.schema import metadata
from eventstore.sql import SqlEventStore
from migrations.api import upgrade
from tests.conftest import probe_kind
from workflows.jobs import JobRun, JobService, to_new_event


class _NoDispatch:
    def dispatch(self, tx: object, actor_name: str, stream_id: str, message_id: str) -> None:
        pass


def test_the_migrated_schema_matches_the_code(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_rebuild_reproduces_the_projection_tables_exactly(sqlite_engine: Engine) -> None:
    projections = build_projections()
    store = SqlEventStore(sqlite_engine, projector=projections)
    service = JobService(store, _NoDispatch())
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
        JobService(store, _NoDispatch()).submit(probe_kind("actor"))
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
        old_projections = ProjectionRegistry([JobsProjection(), SttRecordsProjection()])
        service = JobService(SqlEventStore(engine, projector=old_projections), _NoDispatch())
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
