"""Two processes firing the same Studio schedule tick at once (two web processes on one database)
run it once: one tick event, one render job, on SQLite and on Postgres."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from app.bootstrap import build_projections
from app.projections.studio_schedules import schedule_of
from app.projections.tables import studio_renders, studio_schedules
from domain.studio import ProjectCreated, Segment
from domain.studio_schedules import ScheduleCreated, TargetProject
from eventstore.base import NO_STREAM, StoreTransaction
from eventstore.db import make_engine
from eventstore.sql import SqlEventStore
from workflows.jobs import JobService, to_new_event
from workflows.studio_schedules import TickRecorder

RACERS = 4


class NoBroker:
    def dispatch(self, tx: StoreTransaction, actor_name: str, stream_id: str, message_id: str) -> None:
        pass


def _store(url: str) -> SqlEventStore:
    return SqlEventStore(make_engine(url), projector=build_projections())


def test_a_tick_fired_by_several_processes_at_once_runs_once(database_url: str) -> None:
    setup = _store(database_url)
    segments = (Segment(id="s1", text="Hello there."),)
    project = ProjectCreated(project_id="p1", name="P", model="Piper-Joe-Medium", segments=segments)
    setup.append("studio-p1", [to_new_event("studio", project)], NO_STREAM)
    start = time.time() - 120
    created = ScheduleCreated(
        schedule_id="sch", name="S", project_id="p1", interval_seconds=60, anchor=start, fired_through=start
    )
    setup.append("studioschedule-sch", [to_new_event("studioschedule", created)], NO_STREAM)
    with setup.engine.connect() as connection:
        row = dict(connection.execute(select(studio_schedules)).mappings().one())
    schedule = schedule_of(row)
    target = [TargetProject("p1", 1, 1, 1, "Piper-Joe-Medium")]
    stores = [_store(database_url) for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)
    fired: list[int] = []

    def fire(store: SqlEventStore) -> None:
        recorder = TickRecorder(store, JobService(store, NoBroker()))
        barrier.wait()
        fired.append(len(recorder.fire(schedule, time.time(), lambda: target, {})))

    threads = [threading.Thread(target=fire, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(fired) == [0] * (RACERS - 1) + [1]
    ticks = [e for e in setup.read_stream("studioschedule-sch") if e.type == "studioschedule.tick_fired"]
    assert len(ticks) == 1 and ticks[0].data["missed"] == 1  # two ticks were due: one run
    with setup.engine.connect() as connection:
        assert len(connection.execute(select(studio_renders)).all()) == 1
    for store in (setup, *stores):
        store.engine.dispose()
