"""Concurrent writers for bench/eventstore.py: appends/s with N writers, each with its own
connection (an engine of its own) appending single-event batches to its own streams, while a
subscriber thread follows ``read_all`` from its last position the whole time, as the EventHub
does, and counts the events it missed or saw twice (or out of order).

Writers are threads of one process, or (``processes=True``) processes of their own, as the web
and worker processes of a deployment are: threads share one interpreter lock, so past a few of
them they measure Python, not the database."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.bootstrap import build_projections, build_upcasters
from domain.jobs import JobProgressed, JobRequested
from eventstore.base import NO_STREAM, NewEvent
from eventstore.db import make_engine
from eventstore.sql import SqlEventStore

CATEGORY = "benchjob"
STREAMS_PER_WRITER = 4
SUBSCRIBER_PAGE = 500
SUBSCRIBER_PAUSE = 0.01
"""Between reads that found nothing more: about how often a busy EventHub is woken by doorbells."""


@dataclass(frozen=True)
class ConcurrentRun:
    backend: str
    writers: int
    processes: bool
    appends: int
    seconds: float
    missed: int
    repeated: int

    @property
    def rate(self) -> float:
        return self.appends / self.seconds


def production_store(url: str, pool_size: int = 1) -> SqlEventStore:
    """A store as ``app.bootstrap`` wires one: the production projections run inline."""
    engine = make_engine(url, pool_size=pool_size, max_overflow=2)
    return SqlEventStore(engine, projector=build_projections(), upcasters=build_upcasters())


class _Writer:
    """Appends one event at a time to its own streams (round robin), with expected versions."""

    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.streams = [f"{CATEGORY}-{uuid.uuid4().hex}" for _ in range(STREAMS_PER_WRITER)]
        self.versions = [0] * STREAMS_PER_WRITER
        self.written: list[str] = []

    def append_one(self, turn: int) -> None:
        index = turn % STREAMS_PER_WRITER
        stream_id, version = self.streams[index], self.versions[index]
        if version == 0:
            payload = JobRequested(job_id=stream_id.split("-", 1)[1], params={"model": "bench"}).payload()
            event = NewEvent(JobRequested.type_for(CATEGORY), payload)
        else:
            payload = JobProgressed(step=f"step-{version}", percent=float(version % 100)).payload()
            event = NewEvent(JobProgressed.type_for(CATEGORY), payload)
        self.store.append(stream_id, [event], version or NO_STREAM)
        self.versions[index] = version + 1
        self.written.append(event.event_id)

    def run(self, deadline: float, clock: Callable[[], float] = time.perf_counter) -> None:
        turn = 0
        while clock() < deadline:
            self.append_one(turn)
            turn += 1


def _writer_process(url: str, seconds: float, go: Any, results: Any) -> None:
    """One writer in a process of its own: warm up, wait for ``go``, append for ``seconds``."""
    store = production_store(url)
    writer = _Writer(store)
    writer.append_one(0)
    writer.written.clear()
    results.put(None)  # ready
    go.wait()
    started = time.perf_counter()
    writer.run(started + seconds)
    results.put((writer.written, time.perf_counter() - started))


class _Subscriber:
    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.after = store.last_position()
        self.seen: list[str] = []
        self.out_of_order = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while True:
            stopping = self.stop.is_set()  # one more read after the writers are done
            batch = self.store.read_all(self.after, SUBSCRIBER_PAGE)
            for event in batch:
                if event.position <= self.after:
                    self.out_of_order += 1
                self.after = max(self.after, event.position)
                self.seen.append(event.event_id)
            if len(batch) == SUBSCRIBER_PAGE:
                continue
            if stopping:
                return
            time.sleep(SUBSCRIBER_PAUSE)


def run_concurrent(
    backend: str, url: str, writers: int, seconds: float, processes: bool = False
) -> ConcurrentRun:
    if processes:
        return _run_processes(backend, url, writers, seconds)
    stores = [production_store(url) for _ in range(writers)]
    reader = production_store(url)
    try:
        workers = [_Writer(store) for store in stores]
        for worker in workers:  # connect and warm each writer's statements outside the timing
            worker.append_one(0)
            worker.written.clear()
        subscriber = _Subscriber(reader)
        follow = threading.Thread(target=subscriber.run, name="bench-subscriber")
        follow.start()
        started = time.perf_counter()
        deadline = started + seconds
        threads = [threading.Thread(target=worker.run, args=(deadline,)) for worker in workers]
        _start_and_join(threads)
        elapsed = time.perf_counter() - started
        subscriber.stop.set()
        follow.join()
        written = [event_id for worker in workers for event_id in worker.written]
        return _tally(backend, writers, False, written, elapsed, subscriber)
    finally:
        for store in (*stores, reader):
            store.engine.dispose()


def _run_processes(backend: str, url: str, writers: int, seconds: float) -> ConcurrentRun:
    # Forked before this process opens a connection of its own to ``url``.
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    children = [
        context.Process(target=_writer_process, args=(url, seconds, go, results)) for _ in range(writers)
    ]
    for child in children:
        child.start()
    for _ in children:
        results.get(timeout=120)
    reader = production_store(url)
    try:
        subscriber = _Subscriber(reader)
        follow = threading.Thread(target=subscriber.run, name="bench-subscriber")
        follow.start()
        go.set()
        finished = [results.get(timeout=seconds + 120) for _ in children]
        for child in children:
            child.join()
        subscriber.stop.set()
        follow.join()
        written = [event_id for ids, _ in finished for event_id in ids]
        elapsed = max(took for _, took in finished)
        return _tally(backend, writers, True, written, elapsed, subscriber)
    finally:
        reader.engine.dispose()


def _tally(
    backend: str, writers: int, processes: bool, written: list[str], elapsed: float, subscriber: _Subscriber
) -> ConcurrentRun:
    seen = set(subscriber.seen)
    missed = len(set(written) - seen)
    repeated = len(subscriber.seen) - len(seen) + subscriber.out_of_order
    return ConcurrentRun(backend, writers, processes, len(written), elapsed, missed, repeated)


def _start_and_join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_all(
    backends: list[tuple[str, Callable[[], str]]], counts: list[int], seconds: float, processes: bool = False
) -> list[ConcurrentRun]:
    """Each backend's fresh URL (a callable, so each run can get a new database) at each count."""
    return [
        run_concurrent(name, fresh(), writers, seconds, processes)
        for name, fresh in backends
        for writers in counts
    ]
