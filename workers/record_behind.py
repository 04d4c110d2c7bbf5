"""Recording one result while the engine computes the next.

A job that synthesizes piece after piece (a speech job's sentences, a Studio render's segments)
stores each piece (a media object, fsynced, and an event) before the next is asked of the engine.
``RecordBehind`` runs those records on a thread of their own, one at a time and in order, so the
engine does not wait for the disk. Whoever touches the job's run (its cancellation check, its
progress) calls ``wait()`` first: the run is never used by two threads at once. Leaving the block
waits for the record in flight, and its failure is raised there like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class RecordBehind:
    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: Future[None] | None = None

    def wait(self) -> None:
        """Until the record in flight is stored (raising what it raised)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def submit(self, record: Callable[..., None], *args: Any) -> None:
        """Record on the recording thread, after the record before it."""
        self.wait()
        self._pending = self._executor.submit(record, *args)

    def __enter__(self) -> RecordBehind:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            self._executor.shutdown(wait=True)
