"""Serving a stored media object over HTTP: its bytes, its content type, and byte ranges.

One place for every download route (records' audio, saved voices, speech records, ``/v1/media``),
so that all of them answer ``Range`` the same way: 206 for a range, ``Accept-Ranges`` always
(audio players seek only when told they may), and suffix ranges (``bytes=-N``) served rather than
failing inside Quart.
"""

from __future__ import annotations

import asyncio

from quart import Response, request, send_file
from werkzeug.datastructures import Range

from app.http.errors import ApiError
from eventstore.media import MediaStore


async def send_media(
    media: MediaStore, digest: str, *, content_type: str, filename: str | None, missing: str
) -> Response:
    """The object ``digest`` as a response; 404 with ``missing`` when its file is gone."""
    path = media.path(digest)
    if not await asyncio.to_thread(path.is_file):
        raise ApiError(404, missing)
    _explicit_suffix_range(await asyncio.to_thread(lambda: path.stat().st_size))
    response = await send_file(path, mimetype=content_type, conditional=True)
    response.headers.setdefault("Accept-Ranges", "bytes")
    if filename:
        response.headers.set("Content-Disposition", "inline", filename=filename)
    return response


def _explicit_suffix_range(size: int) -> None:
    """Quart answers a suffix range (``bytes=-N``: the last N bytes) with a 500: give it the
    explicit range that means."""
    ranges = request.range
    if ranges is None or ranges.units != "bytes" or len(ranges.ranges) != 1:
        return
    start, end = ranges.ranges[0]
    if start < 0 and end is None:
        request.range = Range("bytes", [(max(size + start, 0), None)])
