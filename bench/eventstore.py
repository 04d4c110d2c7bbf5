"""Event store benchmark: append throughput, stream reads, cross-process append→subscriber latency,
and appends/s with concurrent writers on SQLite and Postgres.

Runs against a fresh temporary data directory holding a real SQLite database migrated by Alembic,
wired the way ``app.bootstrap`` wires production: ``SqlEventStore`` with the production projection
registry as inline projector and an ``after_commit`` hook that rings the events doorbell. The
concurrent-writer runs (bench/concurrency.py) use SQLite and a throw-away PostgreSQL server with
fsync on (``tests.servers.start_postgres``), or the database ``--postgres-url`` names.

    .venv/bin/python bench/eventstore.py [--events 2000] [--writers 1,4,16] [--postgres-url URL] ...

The figures are figures, not a test: the script exits 0 whether or not the latency target is met.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import sqlalchemy  # noqa: E402

from app.bootstrap import build_projections, build_upcasters  # noqa: E402
from bench.concurrency import ConcurrentRun, run_all  # noqa: E402
from domain.jobs import JobProgressed, JobRequested  # noqa: E402
from eventstore.base import NO_STREAM, EventFilter, ExpectedVersion, NewEvent  # noqa: E402
from eventstore.db import make_engine, sqlite_url  # noqa: E402
from eventstore.notifier import EVENTS_TOPIC, Doorbell, DoorbellListener  # noqa: E402
from eventstore.sql import SqlEventStore  # noqa: E402
from eventstore.subscription import EventHub  # noqa: E402
from migrations.api import upgrade  # noqa: E402

if TYPE_CHECKING:
    from multiprocessing.queues import Queue as MpQueue
    from multiprocessing.synchronize import Event as MpEvent

LATENCY_TARGET_MS = 10.0

# --- wiring -------------------------------------------------------------------------------------


def ring_events(data_dir: Path) -> Callable[[], None]:
    """The production ``after_commit`` hook (``app.bootstrap``): ring the events doorbell."""
    doorbell = Doorbell.for_data_dir(data_dir)
    return lambda: doorbell.ring(EVENTS_TOPIC)


def make_store(data_dir: Path, after_commit: Callable[[], None] | None) -> SqlEventStore:
    """A store wired like ``app.bootstrap.bootstrap``: the production projections run inline."""
    engine = make_engine(sqlite_url(data_dir / "sauti.db"))
    return SqlEventStore(
        engine, projector=build_projections(), upcasters=build_upcasters(), after_commit=after_commit
    )


@contextmanager
def draining_listener(data_dir: Path) -> Iterator[None]:
    """A bound, drained doorbell socket, as a running server has: rings then really send a datagram."""
    listener = Doorbell.for_data_dir(data_dir).listen(EVENTS_TOPIC)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            listener.wait(0.05)

    thread = threading.Thread(target=drain, name="doorbell-drain", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        listener.close()


# --- events ---------------------------------------------------------------------------------------

CATEGORY = "benchjob"


def new_stream_id() -> str:
    return f"{CATEGORY}-{uuid.uuid4().hex}"


def requested_event(stream_id: str) -> NewEvent:
    job_id = stream_id.split("-", 1)[1]
    payload = JobRequested(job_id=job_id, params={"model": "bench", "language": "sw"}).payload()
    return NewEvent(JobRequested.type_for(CATEGORY), payload)


def progressed_event(seq: int, detail: dict[str, Any] | None = None) -> NewEvent:
    payload = JobProgressed(step=f"step-{seq}", percent=float(seq % 100), detail=detail or {}).payload()
    return NewEvent(JobProgressed.type_for(CATEGORY), payload)


def job_batch(stream_id: str, first_version: int, size: int) -> list[NewEvent]:
    """``size`` lifecycle events continuing a job stream now at ``first_version - 1``."""
    return [
        requested_event(stream_id) if version == 1 else progressed_event(version)
        for version in range(first_version, first_version + size)
    ]


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


# --- 1. append throughput -----------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    scenario: str
    transactions: int
    events: int
    seconds: float


def bench_appends(store: SqlEventStore, events: int, batch: int, hot: bool) -> Throughput:
    """Append ``events`` events, ``batch`` per transaction, to new streams or to one hot stream."""
    transactions = max(1, events // batch)
    plan: list[tuple[str, list[NewEvent], ExpectedVersion]] = []
    hot_stream = new_stream_id()
    for tx in range(transactions):
        if hot:
            version = tx * batch
            plan.append((hot_stream, job_batch(hot_stream, version + 1, batch), version or NO_STREAM))
        else:
            stream_id = new_stream_id()
            plan.append((stream_id, job_batch(stream_id, 1, batch), NO_STREAM))
    started = time.perf_counter()
    for stream_id, batch_events, expected in plan:
        store.append(stream_id, batch_events, expected)
    seconds = time.perf_counter() - started
    where = "one hot stream, expected version" if hot else "distinct streams"
    return Throughput(f"{batch:>2} event/tx, {where}", transactions, transactions * batch, seconds)


# --- 2. stream reads ------------------------------------------------------------------------------


def bench_read_stream(store: SqlEventStore, size: int, runs: int) -> list[float]:
    stream_id = new_stream_id()
    chunk = 100
    for first in range(1, size + 1, chunk):
        count = min(chunk, size - first + 1)
        store.append(stream_id, job_batch(stream_id, first, count), first - 1 or NO_STREAM)
    store.read_stream(stream_id)  # warm the page cache and the statement cache
    timings: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        read = store.read_stream(stream_id)
        timings.append(time.perf_counter() - started)
        assert len(read) == size, len(read)
    return timings


# --- 3. cross-process append→subscriber latency -------------------------------------------------


def writer_main(
    data_dir: str, count: int, interval: float, ring: bool, ready: MpEvent, go: MpEvent, results: MpQueue[Any]
) -> None:
    """The separate writer process: appends one progress event every ``interval`` seconds."""
    ring_times: list[tuple[float, float]] = []
    doorbell = Doorbell.for_data_dir(Path(data_dir))

    def timed_ring() -> None:
        started = time.time()
        doorbell.ring(EVENTS_TOPIC)
        ring_times.append((started, time.time()))

    store = make_store(Path(data_dir), timed_ring if ring else None)
    stream_id = new_stream_id()
    store.append(stream_id, [requested_event(stream_id)], NO_STREAM)
    store.append(stream_id, [progressed_event(-1)], 1)  # warm the connection and statement caches
    ring_times.clear()
    ready.set()
    go.wait(60)
    rows: list[tuple[int, float, float, float, float]] = []
    started = time.perf_counter()
    for seq in range(count):
        delay = started + seq * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        written_at = time.time()
        event = progressed_event(seq, {"seq": seq, "written_at": written_at})
        store.append(stream_id, [event], seq + 2)
        returned_at = time.time()
        ring_started, ring_ended = ring_times[-1] if ring else (math.nan, math.nan)
        rows.append((seq, written_at, ring_started, ring_ended, returned_at))
    results.put(rows)
    store.engine.dispose()


@dataclass(frozen=True)
class Latency:
    label: str
    sent: int
    received: int
    from_written: list[float]
    """receive time - the writer's timestamp taken just before ``append`` (seconds)."""
    from_recorded: list[float]
    """receive time - the event's ``recorded_at`` (seconds)."""
    append: list[float]
    """writer: ``append`` call until the commit returned (before the ring)."""
    ring: list[float]
    """writer: duration of ``doorbell.ring`` (may include being preempted by the woken reader)."""
    delivery: list[float]
    """receive time - end of the commit (ring start): doorbell, hub wake-up, read, fan-out."""
    seconds: float


async def measure_latency(
    data_dir: Path, count: int, interval: float, doorbell: bool, poll_seconds: float, label: str
) -> Latency:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    go = context.Event()
    results: MpQueue[Any] = context.Queue()
    writer = context.Process(
        target=writer_main,
        args=(str(data_dir), count, interval, doorbell, ready, go, results),
        name="bench-writer",
        daemon=True,
    )
    writer.start()

    store = make_store(data_dir, ring_events(data_dir))
    listener: DoorbellListener | None = (
        Doorbell.for_data_dir(data_dir).listen(EVENTS_TOPIC) if doorbell else None
    )
    hub = EventHub(store, listener, poll_seconds=poll_seconds)
    await hub.start()
    received: dict[int, tuple[float, float]] = {}
    done = asyncio.Event()

    async def consume() -> None:
        async for event in hub.subscribe(hub.position, EventFilter(category=CATEGORY)):
            now = time.time()
            seq = event.data.get("detail", {}).get("seq")
            if seq is None:
                continue
            received[int(seq)] = (now, event.recorded_at)
            if len(received) >= count:
                done.set()
                return

    consumer = asyncio.create_task(consume())
    while not await asyncio.to_thread(ready.wait, 0.5):
        if not writer.is_alive():
            await hub.stop()
            raise RuntimeError(f"the writer process died during start-up (exit code {writer.exitcode})")
    await asyncio.sleep(0.05)  # the subscription has registered and caught up
    started = time.perf_counter()
    go.set()
    rows: list[tuple[int, float, float, float, float]] = await asyncio.to_thread(results.get, True, 120)
    try:
        await asyncio.wait_for(done.wait(), poll_seconds * 3 + 10)
    except TimeoutError:
        print(f"  ! {label}: only {len(received)} of {count} events arrived", file=sys.stderr)
    seconds = time.perf_counter() - started
    consumer.cancel()
    with suppress(asyncio.CancelledError):
        await consumer
    await hub.stop()
    await asyncio.to_thread(writer.join, 30)
    store.engine.dispose()

    from_written: list[float] = []
    from_recorded: list[float] = []
    append: list[float] = []
    ring: list[float] = []
    delivery: list[float] = []
    for seq, written_at, ring_started, ring_ended, returned_at in rows:
        if seq not in received:
            continue
        received_at, recorded_at = received[seq]
        from_written.append(received_at - written_at)
        from_recorded.append(received_at - recorded_at)
        committed_at = ring_started if doorbell else returned_at
        append.append(committed_at - written_at)
        if doorbell:
            ring.append(ring_ended - ring_started)
        delivery.append(received_at - committed_at)
    return Latency(
        label, len(rows), len(received), from_written, from_recorded, append, ring, delivery, seconds
    )


def latency_row(result: Latency, values: list[float], what: str) -> list[str]:
    if not values:
        return [f"{result.label}: {what}", f"{result.received}/{result.sent}", "-", "-", "-", "-"]
    return [
        f"{result.label}: {what}",
        f"{result.received}/{result.sent}",
        fmt_ms(percentile(values, 50)),
        fmt_ms(percentile(values, 99)),
        fmt_ms(max(values)),
        fmt_ms(statistics.fmean(values)),
    ]


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="events per throughput scenario")
    parser.add_argument(
        "--batch", type=int, default=10, help="events per transaction in the batched scenarios"
    )
    parser.add_argument("--read-size", type=int, default=1000, help="events in the stream read back")
    parser.add_argument("--read-runs", type=int, default=9, help="timed read_stream runs (median reported)")
    parser.add_argument("--latency-events", type=int, default=400, help="events the writer process appends")
    parser.add_argument("--interval-ms", type=float, default=5.0, help="writer's pause between appends")
    parser.add_argument(
        "--poll-events", type=int, default=200, help="events for the doorbell-off run (0 skips it)"
    )
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="the hub's safety-net poll interval")
    parser.add_argument(
        "--writers", default="1,4,16", help="concurrent writer counts, comma-separated ('' skips the runs)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each concurrent-writer run")
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="a Postgres database to migrate and use (default: a throw-away server)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="concurrent-writer runs on SQLite only")
    parser.add_argument("--skip-latency", action="store_true", help="skip the cross-process latency runs")
    parser.add_argument("--data-dir", type=Path, default=None, help="parent of the temporary data directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    return parser.parse_args(argv)


def print_context(data_dir: Path) -> None:
    print("Sauti event store benchmark")
    print(f"  cpus        {os.cpu_count()}")
    print(f"  python      {platform.python_version()} ({platform.python_implementation()})")
    print(f"  sqlite      {sqlite3.sqlite_version}")
    print(f"  sqlalchemy  {sqlalchemy.__version__}")
    print(f"  platform    {platform.platform()}")
    print(f"  data dir    {data_dir}")
    load = os.getloadavg()
    print(f"  load avg    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min)")
    if load[0] > 0.5 * (os.cpu_count() or 1):
        print("  ! the machine is busy: latency figures will include scheduling delays")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="sauti-bench-", dir=args.data_dir))
    try:
        print_context(data_dir)
        upgrade(sqlite_url(data_dir / "sauti.db"))
        store = make_store(data_dir, ring_events(data_dir))

        with draining_listener(data_dir):
            throughput = [
                bench_appends(store, args.events, 1, hot=False),
                bench_appends(store, args.events, 1, hot=True),
                bench_appends(store, args.events, args.batch, hot=False),
                bench_appends(store, args.events, args.batch, hot=True),
            ]
        print("1. Appends (inline jobs projection, doorbell rung after every commit)")
        print_table(
            ["scenario", "tx", "events", "seconds", "tx/s", "events/s"],
            [
                [
                    t.scenario,
                    str(t.transactions),
                    str(t.events),
                    f"{t.seconds:.2f}",
                    f"{t.transactions / t.seconds:,.0f}",
                    f"{t.events / t.seconds:,.0f}",
                ]
                for t in throughput
            ],
        )
        print()

        reads = bench_read_stream(store, args.read_size, args.read_runs)
        print(f"2. read_stream of a {args.read_size}-event stream ({args.read_runs} runs)")
        print(
            f"   median {fmt_ms(statistics.median(reads))} ms   min {fmt_ms(min(reads))} ms"
            f"   max {fmt_ms(max(reads))} ms"
        )
        print()
        store.engine.dispose()

        if not args.skip_latency:
            print_latency(args, data_dir)
        counts = [int(n) for n in args.writers.split(",") if n.strip()]
        if counts:
            print_concurrency(args, data_dir, counts)
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def print_latency(args: argparse.Namespace, data_dir: Path) -> None:
    interval = args.interval_ms / 1000
    results = [
        asyncio.run(
            measure_latency(data_dir, args.latency_events, interval, True, args.poll_seconds, "doorbell")
        )
    ]
    if args.poll_events > 0:
        results.append(
            asyncio.run(
                measure_latency(
                    data_dir, args.poll_events, interval, False, args.poll_seconds, "polling only"
                )
            )
        )
    print(
        "3. append→subscriber latency, writer in a separate process "
        f"(one event every {args.interval_ms:g} ms), EventHub poll_seconds={args.poll_seconds:g}"
    )
    rows: list[list[str]] = []
    for result in results:
        rows.append(latency_row(result, result.from_written, "write → receive"))
        rows.append(latency_row(result, result.from_recorded, "recorded_at → receive"))
        rows.append(latency_row(result, result.append, "  writer append+commit"))
        if result.ring:
            rows.append(latency_row(result, result.ring, "  writer doorbell.ring"))
        rows.append(latency_row(result, result.delivery, "  commit → receive"))
    print_table(["measure", "events", "p50 ms", "p99 ms", "max ms", "mean ms"], rows)
    print()
    doorbell_result = results[0]
    if doorbell_result.from_written:
        median_ms = percentile(doorbell_result.from_written, 50) * 1000
        verdict = "MET" if median_ms < LATENCY_TARGET_MS else "NOT MET"
        print(
            f"Target: median append→subscriber latency < {LATENCY_TARGET_MS:g} ms on SQLite: "
            f"{verdict} ({median_ms:.2f} ms)"
        )
    else:
        print("Target: no event reached the subscriber; not measured")
    print()


# --- 4. concurrent writers ----------------------------------------------------------------------

CONCURRENCY_TARGET = 4.0


@contextmanager
def postgres_databases(url: str | None) -> Iterator[Callable[[], str]]:
    """A fresh migrated database per call: on a throw-away server with fsync on (stopped after),
    or ``url`` itself, migrated once."""
    if url is not None:
        upgrade(url)
        yield lambda: url
        return
    from tests.servers import start_postgres

    server = start_postgres(fsync=True)
    admin = sqlalchemy.create_engine(make_engine(server.url).url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def fresh() -> str:
        name = f"bench_{len(made) + 1}"
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        database_url = server.url.rsplit("/", 1)[0] + f"/{name}"
        upgrade(database_url)
        made.append(name)
        return database_url

    try:
        yield fresh
    finally:
        admin.dispose()
        server.stop()


def print_concurrency(args: argparse.Namespace, data_dir: Path, counts: list[int]) -> None:
    made: list[Path] = []

    def fresh_sqlite() -> str:
        url = sqlite_url(data_dir / f"concurrent-{len(made) + 1}.db")
        upgrade(url)
        made.append(data_dir)
        return url

    runs = run_all([("sqlite", fresh_sqlite)], counts, args.seconds)
    runs += run_all([("sqlite", fresh_sqlite)], counts, args.seconds, processes=True)
    where = "skipped (--no-postgres)"
    if not args.no_postgres:
        try:
            with postgres_databases(args.postgres_url) as fresh_postgres:
                runs += run_all([("postgres", fresh_postgres)], counts, args.seconds)
                runs += run_all([("postgres", fresh_postgres)], counts, args.seconds, processes=True)
            where = args.postgres_url or "a throw-away server, fsync=on, synchronous_commit=on"
        except Exception as exc:  # a missing server is a line in the report, not a crash
            where = f"not run: {exc}"
    print(
        f"4. Concurrent writers: {args.seconds:g} s per run, single-event appends (expected version) "
        "to each writer's own streams, inline projections; a subscriber follows read_all throughout;\n"
        "   writers as threads of one process, then as processes of their own (as web and worker"
        " processes are)"
    )
    print(f"   postgres: {where}")
    print_table(
        ["backend", "writers", "as", "appends", "seconds", "appends/s", "vs 1 writer", "missed", "repeated"],
        [_concurrency_row(run, runs) for run in runs],
    )
    _print_speedup(runs, counts)


def _concurrency_row(run: ConcurrentRun, runs: list[ConcurrentRun]) -> list[str]:
    single = _single(run.backend, run.processes, runs)
    return [
        run.backend,
        str(run.writers),
        "processes" if run.processes else "threads",
        str(run.appends),
        f"{run.seconds:.2f}",
        f"{run.rate:,.0f}",
        f"{run.rate / single.rate:.2f}x" if single else "-",
        str(run.missed),
        str(run.repeated),
    ]


def _single(backend: str, processes: bool, runs: list[ConcurrentRun]) -> ConcurrentRun | None:
    return next((r for r in runs if (r.backend, r.processes, r.writers) == (backend, processes, 1)), None)


def _print_speedup(runs: list[ConcurrentRun], counts: list[int]) -> None:
    most = max(counts)
    for processes in (False, True):
        by_writers = {r.writers: r for r in runs if r.backend == "postgres" and r.processes == processes}
        if 1 in by_writers and most in by_writers and most > 1:
            ratio = by_writers[most].rate / by_writers[1].rate
            verdict = "MET" if ratio >= CONCURRENCY_TARGET else "NOT MET"
            print(
                f"Target: Postgres with {most} writer {'processes' if processes else 'threads'} >= "
                f"{CONCURRENCY_TARGET:g}x one writer: {verdict} ({ratio:.2f}x)"
            )
    lost = sum(r.missed + r.repeated for r in runs)
    print(
        f"Subscriber: {'every event exactly once, in order' if lost == 0 else f'{lost} MISSED OR REPEATED'}"
    )


if __name__ == "__main__":
    sys.exit(main())
