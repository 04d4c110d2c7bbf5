"""A job's progress and what its step made elsewhere commit together (``JobRun.progress(along=…)``):
both are stored, once, whatever is retried."""

from __future__ import annotations

from domain.kinds import JobKind, OpenParams
from eventstore.base import NewEvent, StoreTransaction
from eventstore.memory import InMemoryEventStore
from workflows.jobs import JobRun, JobService

KIND: JobKind[OpenParams] = JobKind(
    name="along_probe", category="alongprobe", actor="probe", params=OpenParams
)


class NoBroker:
    def dispatch(self, tx: StoreTransaction, actor_name: str, stream_id: str, message_id: str) -> None:
        pass


def _made(n: int) -> tuple[str, NewEvent]:
    return "thing-1", NewEvent("thing.made", {"n": n}, event_id=f"made-{n}")


def test_progress_and_what_the_step_made_commit_together_and_once() -> None:
    store = InMemoryEventStore()
    stream = JobService(store, NoBroker()).submit(KIND, {})
    run = JobRun(store, stream, message_id="m1", worker="w")
    assert run.begin()

    run.progress("steps", 50.0, {"done": 1}, along=[_made(1)])
    [made] = store.read_stream("thing-1")
    progressed = [e for e in store.read_stream(stream) if e.type == "alongprobe.progressed"]
    assert made.data == {"n": 1} and len(progressed) == 1
    assert made.position + 1 == progressed[0].position  # one transaction: side by side

    again = JobRun(store, stream, message_id="m2", worker="w")  # a redelivery repeats the step
    again.progress("steps", 50.0, {"done": 1}, along=[_made(1)])
    assert len(store.read_stream("thing-1")) == 1
    assert len([e for e in store.read_stream(stream) if e.type == "alongprobe.progressed"]) == 1

    stale = JobRun(store, stream, message_id="m3", worker="w")
    run.progress("steps", 75.0, along=[_made(2)])
    stale.progress("steps", 100.0, along=[_made(3)])  # its version is taken: caught up, then recorded
    assert [e.data["n"] for e in store.read_stream("thing-1")] == [1, 2, 3]
