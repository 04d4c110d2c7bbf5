"""Server-sent events: framing, heartbeats, the response object, and how many are open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from quart import Response

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def sse_frame(data: Any, *, event: str | None = None, id: int | str | None = None) -> bytes:
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    lines.extend(f"data: {line}" for line in payload.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


HEARTBEAT = b": heartbeat\n\n"


class OpenStreams:
    """The SSE responses this process is sending now (from their first frame to their end)."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def add(self, delta: int) -> None:
        with self._lock:
            self._count += delta


OPEN_STREAMS = OpenStreams()


async def _counted(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    OPEN_STREAMS.add(1)
    try:
        async for frame in frames:
            yield frame
    finally:
        OPEN_STREAMS.add(-1)
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()


async def with_heartbeats(frames: AsyncIterator[bytes], every: float) -> AsyncIterator[bytes]:
    """Yield ``frames``, and a comment line whenever nothing was sent for ``every`` seconds."""
    iterator = aiter(frames)
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield HEARTBEAT
                continue
            try:
                frame = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None if done else pending
            yield frame
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def sse_response(frames: AsyncIterator[bytes], heartbeat_seconds: float) -> Response:
    response = Response(_counted(with_heartbeats(frames, heartbeat_seconds)), headers=SSE_HEADERS)
    response.timeout = None  # streams live as long as the client listens
    return response


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and "text/event-stream" in (accept or "")
