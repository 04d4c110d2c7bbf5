"""Reading request bodies the contract's way: the right content type or 415, valid JSON or 400."""

from __future__ import annotations

import contextlib
from typing import Any

from quart import request
from werkzeug.exceptions import RequestEntityTooLarge

from app.http.errors import ApiError

JSON_TYPES = ("application/json",)
MULTIPART_TYPES = ("multipart/form-data",)


def content_type() -> str:
    return (request.mimetype or "").lower()


def require_content_type(*accepted: str) -> str:
    """The request's media type if it is one of ``accepted``, else 415 naming what is accepted."""
    mimetype = content_type()
    if mimetype not in accepted:
        got = mimetype or "no Content-Type"
        raise ApiError(415, f"Unsupported content type {got}: this endpoint accepts {', '.join(accepted)}.")
    return mimetype


async def json_object() -> dict[str, Any]:
    """The body as a JSON object: 415 for another content type, 400 for anything but an object."""
    require_content_type(*JSON_TYPES)
    body = await request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


async def drain_body() -> None:
    """Read and drop what is left of the request body, so the connection stays usable.

    A request refused before its body was read (415, 413, 400…) would otherwise leave the body
    unread: the server closes the connection, and a client that sends its whole body before
    reading the answer, or reuses the connection next, finds it reset and never sees the error.
    A body over the server's ``MAX_CONTENT_LENGTH`` is not read: that connection is closed.
    """
    with contextlib.suppress(RequestEntityTooLarge):
        async for _ in request.body:
            pass
