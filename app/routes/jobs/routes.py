"""``GET /v1/jobs``: the generic ``jobs`` read model, newest first, with the contract's cursor
pagination, and each job's links to the routes that serve its record, its events, cancel and rerun
(only where the contract offers them for its kind)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, current_app
from quart_schema import validate_querystring
from sqlalchemy import and_, or_, select

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.pagination import clamp_limit, decode_cursor, encode_cursor, page
from app.projections.tables import jobs
from domain.speech_records import FAMILIES
from eventstore.db import read_transaction

blueprint = Blueprint("jobs", __name__)

STT_CATEGORIES = ("transcription", "diarization")
_SPEECH_BASES = {family.name: family.base for family in FAMILIES}


class JobsQuery(BaseModel):
    category: str | None = Field(
        default=None, description="Only jobs of this kind's category, e.g. `speech`."
    )
    status: str | None = Field(default=None, description="Only jobs with this status, e.g. `running`.")
    cursor: str | None = Field(default=None, description="Opaque cursor from the previous page.")
    limit: int | None = Field(default=None, description="Page size, clamped to 1..500 (default 50).")


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def links(category: str, job_id: str, stream_id: str, params: dict[str, Any]) -> dict[str, str | None]:
    """Where the job's record, events, cancel and rerun are served (``None`` where no route is)."""
    record = cancel = rerun = None
    if category in STT_CATEGORIES and params.get("record", True):
        record = f"/v1/speech-to-text/jobs/{job_id}"
        cancel, rerun = f"{record}/cancel", f"{record}/reruns"
    elif category == "speech" and params.get("record") and params.get("family") in _SPEECH_BASES:
        record = f"{_SPEECH_BASES[params['family']]}/{job_id}"
    return {
        "events_url": f"/v1/streams/{stream_id}/events",
        "record_url": record,
        "cancel_url": cancel,
        "rerun_url": rerun,
    }


def _label(params: dict[str, Any]) -> str | None:
    """A short human description of the job: its file, its text, its prompt."""
    for key in ("title", "filename", "input", "prompt"):
        value = params.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:120]
    return None


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    params = json.loads(row["params"]) if row["params"] else {}
    params = params if isinstance(params, dict) else {}
    return {
        "id": row["job_id"],
        "object": "job",
        "stream_id": row["stream_id"],
        "category": row["category"],
        "status": row["status"],
        "progress": row["progress"],
        "attempt": row["attempt"],
        "model": params.get("model"),
        "label": _label(params),
        "error": row["error"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "last_position": row["last_position"],
        **links(row["category"], row["job_id"], row["stream_id"], params),
    }


def _before(cursor: str | None) -> tuple[float, str] | None:
    if cursor is None:
        return None
    value = decode_cursor(cursor)
    at, stream_id = value.get("at"), value.get("stream")
    if not isinstance(at, int | float) or isinstance(at, bool) or not isinstance(stream_id, str):
        raise ApiError(
            400, "Invalid cursor: pass the next_cursor value of the previous page.", param="cursor"
        )
    return float(at), stream_id


def _read(
    container: Container, query: JobsQuery, before: tuple[float, str] | None, limit: int
) -> tuple[list[dict[str, Any]], bool, int]:
    select_jobs = select(jobs)
    if query.category:
        select_jobs = select_jobs.where(jobs.c.category == query.category)
    if query.status:
        select_jobs = select_jobs.where(jobs.c.status == query.status)
    if before is not None:
        at, stream_id = before
        select_jobs = select_jobs.where(
            or_(jobs.c.created_at < at, and_(jobs.c.created_at == at, jobs.c.stream_id < stream_id))
        )
    select_jobs = select_jobs.order_by(jobs.c.created_at.desc(), jobs.c.stream_id.desc()).limit(limit + 1)
    # The head first: whatever is appended after it is in the rows, or comes over the SSE feed.
    head = container.store.last_position()
    with read_transaction(container.engine) as connection:
        rows = [dict(row) for row in connection.execute(select_jobs).mappings()]
    return rows[:limit], len(rows) > limit, head


@blueprint.get("/v1/jobs")
@validate_querystring(JobsQuery)
async def list_jobs(query_args: JobsQuery) -> Any:
    """Every job of every kind, newest first (`limit` up to 500, `cursor`; `category`, `status`
    filter). `last_position` is the event log's position when the page was read: follow
    `/v1/events?after=<last_position>` (SSE) to see every change since, none missed."""
    limit = clamp_limit(query_args.limit)
    rows, more, head = await asyncio.to_thread(
        _read, _container(), query_args, _before(query_args.cursor), limit
    )
    last = rows[-1] if rows else None
    next_cursor = (
        encode_cursor({"at": last["created_at"], "stream": last["stream_id"]}) if more and last else None
    )
    return {**page([job_json(row) for row in rows], limit, next_cursor), "last_position": head}
