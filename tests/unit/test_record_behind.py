"""RecordBehind: records run one at a time, in order, off the caller's thread; a failure is raised
to the caller at the next wait or when the block ends."""

from __future__ import annotations

import threading
import time

import pytest

from workers.record_behind import RecordBehind


def test_records_run_in_order_one_at_a_time_off_the_callers_thread() -> None:
    seen: list[tuple[int, str]] = []
    running = threading.Semaphore(1)

    def record(index: int) -> None:
        assert running.acquire(blocking=False), "two records ran at once"
        time.sleep(0.005)
        seen.append((index, threading.current_thread().name))
        running.release()

    with RecordBehind("test-records") as behind:
        for index in range(5):
            behind.submit(record, index)
    assert [index for index, _ in seen] == list(range(5))
    assert all(name.startswith("test-records") for _, name in seen)


def test_a_failed_record_is_raised_at_the_next_wait_and_at_the_end() -> None:
    def fail() -> None:
        raise OSError("disk full")

    with RecordBehind("test-records") as behind:
        behind.submit(fail)
        with pytest.raises(OSError, match="disk full"):
            behind.wait()
    with pytest.raises(OSError, match="disk full"), RecordBehind("test-records") as behind:
        behind.submit(fail)


def test_leaving_on_an_error_still_waits_for_the_record_in_flight() -> None:
    done = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        done.set()

    with pytest.raises(RuntimeError), RecordBehind("test-records") as behind:
        behind.submit(slow)
        raise RuntimeError("the engine failed")
    assert done.is_set()
