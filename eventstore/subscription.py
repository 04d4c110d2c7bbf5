"""Catch-up subscriptions: one reader loop per process, fanned out to any number of subscribers.

The hub follows the store by global position. It wakes on a doorbell ring (or every
``poll_seconds`` as a safety net), reads what is new in a worker thread (no transaction is
held while waiting) and hands each batch to every subscriber's queue. With nobody subscribed it
only moves its position to the store's head, at most once a poll, so that a first subscriber's
live events start near the head.

A subscriber registers its queue *before* catching up from the store, then drops anything
at or below the last position it yielded: every event after ``after_position`` arrives
exactly once, in order. A subscriber that falls too far behind is told so and catches up
from the store again instead of blocking the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncGenerator

from eventstore.base import EventFilter, EventStore, RecordedEvent
from eventstore.notifier import DoorbellListener

log = logging.getLogger(__name__)

CATCH_UP_PAGE = 500
QUEUE_BATCHES = 256


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name


_OVERFLOWED = _Signal("overflowed")
_CLOSED = _Signal("closed")


class EventHub:
    def __init__(
        self,
        store: EventStore,
        listener: DoorbellListener | None = None,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self.store = store
        self.listener = listener
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.position = 0
        self._queues: set[asyncio.Queue[list[RecordedEvent] | _Signal]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._skipped_at = -math.inf

    @property
    def subscribers(self) -> int:
        """Subscriptions open now (SSE streams, sync calls awaiting their job, the CLI's tail)."""
        return len(self._queues)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.position = await asyncio.to_thread(self.store.last_position)
        if self.listener is not None:
            asyncio.get_running_loop().add_reader(self.listener.fileno(), self._on_ring)
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.listener is not None:
            asyncio.get_running_loop().remove_reader(self.listener.fileno())
            self.listener.close()

    def close_subscriptions(self) -> None:
        """End every subscription (server shutdown), so streaming responses finish at once."""
        self._closing = True
        for queue in self._queues:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(_CLOSED)

    def _on_ring(self) -> None:
        assert self.listener is not None
        self.listener.drain()
        self._wake.set()

    def poke(self) -> None:
        """Wake the loop now (an in-process append); callable from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _wait(self) -> None:
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as the
        # wake-up fires, and stop() would then wait forever for a loop that never ends.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _run(self) -> None:
        while True:
            try:
                await self._wait()
                if not self._queues and self._skip_is_recent():
                    continue  # every commit rings: with nobody listening, catch up once a poll
                if not self._queues and await self._skip_to_head():
                    continue
                while batch := await asyncio.to_thread(self.store.read_all, self.position, self.batch_size):
                    self.position = batch[-1].position
                    self._fan_out(batch)
                    if len(batch) < self.batch_size:
                        break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event hub read failed; retrying")
                await asyncio.sleep(self.poll_seconds)

    def _skip_is_recent(self) -> bool:
        return time.monotonic() - self._skipped_at < self.poll_seconds

    async def _skip_to_head(self) -> bool:
        """With nobody subscribed, move to the store's head without reading the events; False
        when a subscriber came meanwhile (its catch-up read may predate the head just read, so
        the events up to it must be fanned out)."""
        head = await asyncio.to_thread(self.store.last_position)
        if self._queues:
            return False
        self.position = max(self.position, head)
        self._skipped_at = time.monotonic()
        return True

    def _fan_out(self, batch: list[RecordedEvent]) -> None:
        for queue in self._queues:
            try:
                queue.put_nowait(batch)
            except asyncio.QueueFull:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(_OVERFLOWED)

    async def subscribe(
        self, after_position: int = 0, filter: EventFilter | None = None
    ) -> AsyncGenerator[RecordedEvent, None]:
        """Every matching event after ``after_position``: stored ones first, then live ones."""
        if self._closing:
            return
        queue: asyncio.Queue[list[RecordedEvent] | _Signal] = asyncio.Queue(QUEUE_BATCHES)
        self._queues.add(queue)
        last = after_position
        try:
            while True:
                while True:
                    page = await asyncio.to_thread(self.store.read_all, last, CATCH_UP_PAGE, filter)
                    for event in page:
                        last = event.position
                        yield event
                    if len(page) < CATCH_UP_PAGE:
                        break
                while True:
                    item = await queue.get()
                    if item is _CLOSED:
                        return
                    if isinstance(item, _Signal):
                        break
                    for event in item:
                        if event.position > last and (filter is None or filter.matches(event)):
                            last = event.position
                            yield event
        finally:
            self._queues.discard(queue)
