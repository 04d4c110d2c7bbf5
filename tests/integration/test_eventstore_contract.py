"""One contract, every backend: in-memory, SQLite and Postgres (a throw-away server, tests/servers.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventstore.base import (
    ANY,
    NO_STREAM,
    AppendResult,
    ConcurrencyError,
    EventFilter,
    EventStore,
    ExpectedVersion,
    IdempotencyConflict,
    NewEvent,
    iterate_all,
)
from eventstore.db import make_engine, sqlite_url
from eventstore.memory import InMemoryEventStore
from eventstore.sql import SqlEventStore
from eventstore.upcasting import Upcasters
from migrations.api import upgrade
from tests.conftest import fresh_postgres_database

BACKENDS = ["memory", "sqlite", "postgres"]


def _make_store(backend: str, tmp_path: Path, upcasters: Upcasters | None = None) -> Iterator[Any]:
    if backend == "memory":
        yield InMemoryEventStore(upcasters)
        return
    if backend == "sqlite":
        url = sqlite_url(tmp_path / "store.db")
        upgrade(url)
        engine = make_engine(url)
        yield SqlEventStore(engine, upcasters=upcasters)
        engine.dispose()
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        engine = make_engine(url)
        yield SqlEventStore(engine, upcasters=upcasters)
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[EventStore]:
    yield from _make_store(backend, tmp_path)


def events(*types: str, **data: Any) -> list[NewEvent]:
    return [NewEvent(type=t, data=dict(data)) for t in types]


def test_append_and_read_back(store: EventStore) -> None:
    first = store.append("order-1", [NewEvent("order.placed", {"n": 1}, metadata={"request_id": "r1"})])
    second = store.append("order-1", events("order.paid", "order.shipped"))
    assert first.version == 1 and second.version == 3
    assert second.positions == (2, 3)

    stored = store.read_stream("order-1")
    assert [e.type for e in stored] == ["order.placed", "order.paid", "order.shipped"]
    assert [e.version for e in stored] == [1, 2, 3]
    assert [e.position for e in stored] == [1, 2, 3]
    assert stored[0].data == {"n": 1}
    assert stored[0].metadata == {"request_id": "r1"}
    assert stored[0].category == "order"
    assert stored[0].recorded_at > 0
    assert first.recorded_at == pytest.approx(stored[0].recorded_at)  # what the append says it recorded
    assert second.recorded_at == pytest.approx(stored[2].recorded_at)
    assert store.read_stream("order-1", from_version=3)[0].type == "order.shipped"
    assert store.read_stream("order-404") == []
    assert store.stream_version("order-1") == 3
    assert store.stream_version("order-404") == 0


def test_positions_are_global_and_gap_free(store: EventStore) -> None:
    store.append("a-1", events("a.x"))
    store.append("b-1", events("b.x", "b.y"))
    with pytest.raises(ConcurrencyError):
        store.append("a-1", events("a.y"), expected_version=5)
    store.append("a-1", events("a.z"))
    assert [e.position for e in store.read_all()] == [1, 2, 3, 4]
    assert store.last_position() == 4


def test_expected_versions(store: EventStore) -> None:
    store.append("s-1", events("s.a"), expected_version=NO_STREAM)
    with pytest.raises(ConcurrencyError) as raised:
        store.append("s-1", events("s.b"), expected_version=NO_STREAM)
    assert raised.value.actual == 1
    with pytest.raises(ConcurrencyError):
        store.append("s-1", events("s.b"), expected_version=0)
    with pytest.raises(ConcurrencyError):
        store.append("s-1", events("s.b"), expected_version=2)
    assert store.append("s-1", events("s.b"), expected_version=1).version == 2
    assert store.append("s-1", events("s.c"), expected_version=ANY).version == 3
    assert [e.type for e in store.read_stream("s-1")] == ["s.a", "s.b", "s.c"]


def test_a_retried_batch_is_a_no_op(store: EventStore) -> None:
    batch = [NewEvent("job.requested", {"x": 1}, event_id=str(uuid.uuid4())), NewEvent("job.queued")]
    original = store.append("job-1", batch, expected_version=NO_STREAM)
    retried = store.append("job-1", batch, expected_version=NO_STREAM)
    assert retried.deduplicated and not original.deduplicated
    assert retried.positions == original.positions
    assert len(store.read_stream("job-1")) == 2
    assert store.last_position() == 2


def test_a_batch_mixing_stored_and_new_ids_is_refused_whole(store: EventStore) -> None:
    stored = NewEvent("job.requested")
    store.append("job-1", [stored])
    with pytest.raises(IdempotencyConflict):
        store.append("job-1", [stored, NewEvent("job.queued")])
    assert len(store.read_stream("job-1")) == 1


def after_a_rollback(backend: str, positions: list[int], expected: list[int]) -> bool:
    """Positions after a rolled-back append: gap-free where writers are serialised; on Postgres,
    where they are not, the rolled-back positions stay unused, and the later ones still increase."""
    if backend != "postgres":
        return positions == expected
    return positions == sorted(set(positions)) and positions[0] > expected[0]


def test_a_transaction_commits_all_of_its_appends_or_none(backend: str, store: EventStore) -> None:
    committed: list[str] = []
    with pytest.raises(ConcurrencyError), store.transaction() as tx:
        tx.on_commit(lambda: committed.append("first"))
        tx.append("x-1", events("x.a", "x.b"))
        assert tx.stream_version("x-1") == 2
        tx.append("y-1", events("y.a"), expected_version=7)
    assert store.read_all() == []
    assert committed == []

    with store.transaction() as tx:
        tx.on_commit(lambda: committed.append("second"))
        tx.append("x-1", events("x.a"))
        tx.append("y-1", events("y.a"))
    assert [e.stream_id for e in store.read_all()] == ["x-1", "y-1"]
    assert after_a_rollback(backend, [e.position for e in store.read_all()], [1, 2])
    assert committed == ["second"]


def test_an_exception_inside_a_transaction_rolls_back(backend: str, store: EventStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append("x-1", events("x.a"))
        raise RuntimeError("boom")
    assert store.read_all() == []
    assert after_a_rollback(backend, list(store.append("x-1", events("x.a")).positions), [1])
    assert store.read_stream("x-1")[0].version == 1


def test_read_all_filters_and_pages(store: EventStore) -> None:
    for i in range(5):
        store.append(f"transcription-{i}", events("transcription.requested", "transcription.completed"))
        store.append(f"speech-{i}", events("speech.requested"))
    assert len(store.read_all()) == 15
    assert [e.position for e in store.read_all(after_position=10)] == [11, 12, 13, 14, 15]
    assert [e.position for e in store.read_all(after_position=3, limit=2)] == [4, 5]

    by_stream = store.read_all(filter=EventFilter(stream_id="speech-2"))
    assert [e.stream_id for e in by_stream] == ["speech-2"]
    by_category = store.read_all(filter=EventFilter(category="speech"))
    assert len(by_category) == 5 and {e.category for e in by_category} == {"speech"}
    by_type = store.read_all(filter=EventFilter(types=("transcription.completed",)), limit=3)
    assert [e.type for e in by_type] == ["transcription.completed"] * 3
    assert [e.position for e in iterate_all(store, 0, EventFilter(category="speech"), page=2)] == [
        e.position for e in by_category
    ]


def test_upcasters_lift_old_events_on_read(backend: str, tmp_path: Path) -> None:
    upcasters = Upcasters()
    upcasters.register("speech.requested", 1, lambda data: {**data, "voice": data.get("speaker", "default")})
    upcasters.register("speech.requested", 2, lambda data: {k: v for k, v in data.items() if k != "speaker"})
    for store in _make_store(backend, tmp_path, upcasters):
        store.append("speech-1", [NewEvent("speech.requested", {"speaker": "joe"}, schema_version=1)])
        store.append("speech-2", [NewEvent("speech.requested", {"voice": "amy"}, schema_version=3)])
        old, new = store.read_all()
        assert (old.schema_version, old.data) == (3, {"voice": "joe"})
        assert (new.schema_version, new.data) == (3, {"voice": "amy"})
        assert store.read_stream("speech-1")[0].data == {"voice": "joe"}


def test_concurrent_writers_on_one_stream_never_share_a_version(store: EventStore) -> None:
    winners: list[int] = []
    conflicts: list[int] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        for _ in range(10):
            version = store.stream_version("hot-1")
            try:
                store.append("hot-1", events("hot.bumped", writer=index), expected_version=version)
            except ConcurrencyError:
                with lock:
                    conflicts.append(index)
            else:
                with lock:
                    winners.append(index)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = store.read_stream("hot-1")
    assert len(stored) == len(winners) > 0
    assert [e.version for e in stored] == list(range(1, len(stored) + 1))
    assert [e.position for e in store.read_all()] == list(range(1, len(stored) + 1))
    assert len(winners) + len(conflicts) == 40


def test_a_failing_after_commit_callback_does_not_undo_the_commit(store: EventStore) -> None:
    ran: list[str] = []

    def explode() -> None:
        raise RuntimeError("notifier down")

    with store.transaction() as tx:
        tx.append("x-1", events("x.a"))
        tx.on_commit(explode)
        tx.on_commit(lambda: ran.append("later callbacks still run"))
    assert [e.type for e in store.read_stream("x-1")] == ["x.a"]
    assert ran == ["later callbacks still run"]


def _run_all(targets: list[Callable[[], None]], timeout: float = 60.0) -> None:
    """Run each target in a thread of its own and wait for all; a thread's exception fails the test."""
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in time"
    if failures:
        raise failures[0]


def test_a_reader_polling_during_concurrent_appends_sees_every_event_once_in_order(store: EventStore) -> None:
    writers, appends = 6, 30
    written: list[str] = []
    seen: list[tuple[int, str]] = []
    writing = threading.Event()
    writing.set()
    lock = threading.Lock()

    def writer(index: int) -> None:
        for n in range(appends):
            batch = events("w.appended", writer=index, n=n) if n % 5 else events("w.a", "w.b", writer=index)
            # Some transactions append twice: their second position follows other writers' ones.
            other = events("w.also", writer=index, n=n) if n % 4 == 0 else []
            with store.transaction() as tx:
                tx.append(f"w{index}-{n % 3}", batch)
                if other:
                    time.sleep(0.001)
                    tx.append(f"w{index}-other", other)
            with lock:
                written.extend(e.event_id for e in (*batch, *other))

    def reader() -> None:
        last = 0
        while True:
            done = not writing.is_set()  # read once more after the last commit
            while batch := store.read_all(last, limit=7):
                seen.extend((e.position, e.event_id) for e in batch)
                last = batch[-1].position
            if done:
                return

    def writers_then_stop() -> None:
        _run_all([lambda i=i: writer(i) for i in range(writers)])
        writing.clear()

    _run_all([writers_then_stop, reader])
    positions = [position for position, _ in seen]
    assert positions == sorted(set(positions)), "read twice or out of position order"
    assert sorted(event_id for _, event_id in seen) == sorted(written), "an event was missed"
    assert len(written) == writers * (appends + appends // 5 + (appends + 3) // 4)


def _together(targets: list[Callable[[], None]]) -> None:
    """Run the targets at once: each waits for the others before it starts."""
    start = threading.Barrier(len(targets))

    def after_the_barrier(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            start.wait(10)
            target()

        return run

    _run_all([after_the_barrier(target) for target in targets])


def _race(store: EventStore, stream_id: str, expected: ExpectedVersion) -> list[str]:
    outcomes: list[str] = []

    def race() -> None:
        try:
            store.append(stream_id, events("race.won"), expected_version=expected)
        except ConcurrencyError:
            outcomes.append("conflict")
        else:
            outcomes.append("won")

    _together([race, race])
    return sorted(outcomes)


def test_two_writers_racing_for_one_stream_version_one_wins(store: EventStore) -> None:
    for version in range(8):
        assert _race(store, "race-1", version or NO_STREAM) == ["conflict", "won"]
    assert [e.version for e in store.read_stream("race-1")] == list(range(1, 9))


def _retries(store: EventStore, stream_id: str, batch: list[NewEvent], writers: int) -> list[AppendResult]:
    results: list[AppendResult] = []
    _together([lambda: results.append(store.append(stream_id, batch))] * writers)
    return results


def test_concurrent_retries_of_one_batch_store_it_once(store: EventStore) -> None:
    for round in range(5):
        batch = [NewEvent("job.requested", {"round": round}), NewEvent("job.queued")]
        results = _retries(store, f"job-{round % 2}", batch, 4)
        assert sorted(result.deduplicated for result in results) == [False, True, True, True]
        assert len({result.positions for result in results}) == 1
    assert len(store.read_stream("job-0")) == 6 and len(store.read_stream("job-1")) == 4


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[EventStore]:
    yield from _make_store("postgres", tmp_path)


def test_postgres_an_open_transaction_neither_blocks_other_streams_nor_lets_readers_skip_it(
    postgres_store: EventStore,
) -> None:
    store = postgres_store
    with store.transaction() as tx:
        (held,) = tx.append("slow-1", events("slow.started")).positions
        appended: list[AppendResult] = []
        # A writer of another stream does not wait for this transaction (a timeout fails it).
        _run_all([lambda: appended.append(store.append("fast-1", events("fast.done")))], timeout=10)
        (later,) = appended[0].positions
        assert later > held
        assert store.read_stream("fast-1")[0].position == later
        # Committed, but behind a position that may still commit: not yet readable.
        assert store.read_all() == [] and store.last_position() == 0
    assert [(e.stream_id, e.position) for e in store.read_all()] == [("slow-1", held), ("fast-1", later)]
    assert store.last_position() == later


def test_postgres_a_rolled_back_position_holds_readers_back_only_while_open(
    postgres_store: EventStore,
) -> None:
    store = postgres_store
    store.append("a-1", events("a.x"))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append("b-1", events("b.x"))
        _run_all([lambda: store.append("c-1", events("c.x"))], timeout=10)
        assert [e.stream_id for e in store.read_all()] == ["a-1"]
        raise RuntimeError("roll back")
    assert [e.stream_id for e in store.read_all()] == ["a-1", "c-1"]
