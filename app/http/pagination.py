"""Cursor pagination, as the contract shapes it: ``{records, pagination: {next_cursor, has_more, limit}}``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from quart import request

from app.http.errors import ApiError
from domain.fields import optional_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def clamp_limit(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    if limit is None:
        return default
    return max(1, min(MAX_LIMIT, limit))


def _invalid_cursor() -> ApiError:
    return ApiError(400, "Invalid cursor: pass the next_cursor value of the previous page.", param="cursor")


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise _invalid_cursor() from error
    if not isinstance(value, dict):
        raise _invalid_cursor()
    return value


def cursor_position(cursor: str, key: str) -> int:
    """The position a cursor of this API holds under ``key`` (400 for anything else)."""
    position = decode_cursor(cursor).get(key)
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise _invalid_cursor()
    return position


def page(records: list[Any], limit: int, next_cursor: str | None) -> dict[str, Any]:
    return {
        "object": "list",
        "records": records,
        "pagination": {"next_cursor": next_cursor, "has_more": next_cursor is not None, "limit": limit},
    }


Rows = list[dict[str, Any]]


async def newest_first_page(
    fetch: Callable[[int | None, int], tuple[Rows, bool]], to_json: Callable[[dict[str, Any]], Any]
) -> dict[str, Any]:
    """The page the request asks for (``limit``, ``cursor``) of a read model listed newest first:
    ``fetch(before, limit)`` reads the rows (``app.projections.pages.newest_first``) in a thread."""
    limit = clamp_limit(optional_int(request.args, "limit", form=True))
    cursor = request.args.get("cursor")
    before = cursor_position(cursor, "before") if cursor else None
    rows, more = await asyncio.to_thread(fetch, before, limit)
    next_cursor = encode_cursor({"before": rows[-1]["created_position"]}) if more else None
    return page([to_json(row) for row in rows], limit, next_cursor)
