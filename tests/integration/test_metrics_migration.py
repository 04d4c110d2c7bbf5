"""Migration 0010 fills ``job_timings`` from the stored events exactly as a rebuild does."""

from __future__ import annotations

from pathlib import Path

from app.bootstrap import build_projections
from app.projections.jobs import JobsProjection
from eventstore.db import make_engine, sqlite_url
from eventstore.projections import ProjectionRegistry
from eventstore.sql import SqlEventStore
from migrations.api import upgrade
from tests.conftest import NoDispatch, probe_kind
from workflows.jobs import JobRun, JobService

PROBE = probe_kind("nobody")


def test_the_metrics_migration_makes_what_a_rebuild_makes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    upgrade(url, "0009")
    engine = make_engine(url)
    try:
        store = SqlEventStore(engine, projector=ProjectionRegistry([JobsProjection()]))
        service = JobService(store, NoDispatch())

        def run(stream_id: str, result: dict[str, object]) -> None:
            attempt = JobRun(store, stream_id, message_id="m", worker="w")
            assert attempt.begin()
            attempt.complete(result)

        audio = service.submit(PROBE, {"model": "Whisper-Tiny.en"})
        run(audio, {"duration": 8.0, "processing_time_ms": 800.0})
        service.rerun(audio)  # a second run of the same stream is timed again
        run(audio, {"duration": 8.0, "processing_time_ms": 1600.0})
        run(service.submit(PROBE, {}), {"text": "no model, no audio"})
        service.submit(PROBE, {"model": "m"})  # never started: nothing to time

        upgrade(url)
        migrated = build_projections().dump(engine)["job_timings"]
        build_projections().rebuild(SqlEventStore(engine, projector=build_projections()))
        assert build_projections().dump(engine)["job_timings"] == migrated
        observed = {(model, metric): 0 for _, model, metric, _, _, _ in migrated}
        for _, model, metric, _, count, _ in migrated:
            observed[(model, metric)] += count
        assert observed == {
            ("Whisper-Tiny.en", "duration_seconds"): 2,
            ("Whisper-Tiny.en", "real_time_factor"): 2,
            ("", "duration_seconds"): 1,
        }
    finally:
        engine.dispose()
