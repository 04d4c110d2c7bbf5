"""Pure helpers of the HTTP layer: cursors, SSE framing and heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.http.errors import ApiError, envelope
from app.http.pagination import clamp_limit, decode_cursor, encode_cursor, page
from app.http.sse import HEARTBEAT, sse_frame, wants_event_stream, with_heartbeats


def test_cursor_round_trip_and_rejection() -> None:
    cursor = encode_cursor({"after": 42})
    assert "=" not in cursor
    assert decode_cursor(cursor) == {"after": 42}
    for bad in ("@@", "bm90IGpzb24", encode_cursor({"after": 1})[:-3] + "!!!"):
        with pytest.raises(ApiError) as raised:
            decode_cursor(bad)
        assert raised.value.status == 400 and raised.value.param == "cursor"


def test_limits_are_clamped() -> None:
    assert clamp_limit(None) == 50
    assert clamp_limit(0) == 1
    assert clamp_limit(10_000) == 500
    assert page([1], 1, "c") == {
        "object": "list",
        "records": [1],
        "pagination": {"next_cursor": "c", "has_more": True, "limit": 1},
    }


def test_envelope_shape() -> None:
    assert envelope(404, "gone", param="id") == {
        "error": {"message": "gone", "type": "not_found_error", "param": "id", "code": "404"}
    }
    assert envelope(500, "x")["error"]["type"] == "server_error"


def test_sse_frames() -> None:
    assert sse_frame({"a": 1}, event="x.done", id=7) == b'id: 7\nevent: x.done\ndata: {"a":1}\n\n'
    assert sse_frame("line1\nline2") == b"data: line1\ndata: line2\n\n"
    assert wants_event_stream("text/event-stream, */*")
    assert not wants_event_stream("application/json") and not wants_event_stream(None)


async def test_heartbeats_fill_silences_and_the_source_is_closed() -> None:
    closed = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.sleep(0.25)
            yield b"second"
        finally:
            closed.set()

    received = [frame async for frame in with_heartbeats(slow(), every=0.05)]
    assert received[0] == b"first" and received[-1] == b"second"
    assert received.count(HEARTBEAT) >= 2
    assert closed.is_set()


async def test_closing_the_heartbeat_stream_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await asyncio.sleep(0.01)
                yield b"tick"
        finally:
            closed.set()

    stream = with_heartbeats(endless(), every=1.0)
    assert await anext(stream) == b"tick"
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed.is_set()
