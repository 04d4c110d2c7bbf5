"""EngineThread: an engine's calls and streams run on one thread, whichever thread asks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from workers.engines.engine_thread import EngineThread


@pytest.fixture
def engine_thread() -> Iterator[EngineThread]:
    thread = EngineThread("test-engine")
    yield thread
    thread.close()


def test_calls_from_several_threads_all_run_on_the_engine_thread(engine_thread: EngineThread) -> None:
    def where() -> int:
        return threading.get_ident()

    with ThreadPoolExecutor(3) as callers:
        seen = set(callers.map(lambda _: engine_thread.call(where), range(6)))
    assert len(seen) == 1 and threading.get_ident() not in seen


def test_a_stream_is_made_on_the_engine_thread_and_arrives_in_order(engine_thread: EngineThread) -> None:
    makers: set[int] = set()

    def numbers() -> Iterator[int]:
        for n in range(50):
            makers.add(threading.get_ident())
            yield n

    def consume() -> list[int]:
        return list(engine_thread.stream(numbers))

    with ThreadPoolExecutor(2) as callers:
        results = list(callers.map(lambda _: consume(), range(2)))
    assert results == [list(range(50))] * 2
    assert len(makers) == 1 and threading.get_ident() not in makers


def test_closing_a_stream_early_stops_and_closes_the_producer(engine_thread: EngineThread) -> None:
    made: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                made.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    stream = engine_thread.stream(endless)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # type: ignore[attr-defined]
    assert closed.is_set()  # closed before close() returned: the model is free again
    count = len(made)
    assert engine_thread.call(lambda: len(made)) == count  # nothing more is made after it


def test_an_error_in_the_producer_is_raised_to_the_consumer(engine_thread: EngineThread) -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("the model broke")

    stream = engine_thread.stream(failing)
    assert next(stream) == 1
    with pytest.raises(ValueError, match="the model broke"):
        next(stream)
    assert engine_thread.call(lambda: "still usable") == "still usable"
