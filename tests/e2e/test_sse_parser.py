"""The e2e suite's own SSE frame parser (no server needed)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SSEFrame, SSEReader

pytestmark = [pytest.mark.e2e]


def _parse(text: str) -> tuple[list[SSEFrame], list[str]]:
    reader = SSEReader()
    frames = [frame for line in text.split("\n") if (frame := reader.feed(line)) is not None]
    return frames, reader.comments


def test_frames_comments_and_multiline_data() -> None:
    text = (
        ": heartbeat\n\n"
        'id: 7\nevent: probe.started\ndata: {"a":1}\n\n'
        "id:8\nevent:probe.progressed\ndata: line one\ndata:line two\n\n"
        "retry: 1000\n\n"
        "id: 9\ndata: cut off before its blank line"
    )
    frames, comments = _parse(text)
    assert comments == ["heartbeat"]
    assert frames == [
        SSEFrame("7", "probe.started", '{"a":1}'),
        SSEFrame("8", "probe.progressed", "line one\nline two"),
    ]
    assert frames[0].json() == {"a": 1}


def test_crlf_and_value_with_colons() -> None:
    frames, _ = _parse("event: x\r\ndata: a: b: c\r\n\r\n")
    assert frames == [SSEFrame(None, "x", "a: b: c")]
