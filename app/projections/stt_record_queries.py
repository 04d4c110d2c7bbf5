"""Reading the ``stt_records`` read model: one record, and a page of records.

A record's row comes back as it always has (docs/speech-to-text-records.md): ``segments`` the JSON
list of its segments as their events carried them, ``text`` its transcript. Both are put together
here from the ``stt_record_segments`` rows, so that appending a segment never rewrites them: the
stored ``text`` is the transcript as of the last event that set it (the job's end, an edit), and
the segments after ``text_through`` (the highest segment id it holds; None: none) are added to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, or_, select

from app.projections.pages import newest_first_in
from app.projections.tables import stt_record_segments, stt_records
from domain.transcription import extend_transcript
from eventstore.db import read_transaction

segments = stt_record_segments

# A list page leaves out what grows with the audio's length: the speaker turns, the segments.
_PAGE_COLUMNS = [c for c in stt_records.c if c.name != "speaker_turns"]
_INTERNAL = ("text_through",)  # how the text is stored, not part of the record


# Built once and given their values at execution (a record is read after every change).
_RECORD = (
    select(stt_records)
    .where(stt_records.c.id == bindparam("record_id"), stt_records.c.job_kind.in_(bindparam("kinds")))
    .order_by(stt_records.c.created_position)
    .limit(1)
)
_SEGMENTS = (
    select(segments).where(segments.c.stream_id == bindparam("record_stream_id")).order_by(segments.c.id)
)


def find_record(engine: Engine, record_id: str, kinds: Sequence[str]) -> dict[str, Any] | None:
    """The record with this id if it is one of ``kinds``."""
    with read_transaction(engine) as connection:
        row = connection.execute(_RECORD, {"record_id": record_id, "kinds": list(kinds)}).mappings().first()
        if row is None:
            return None
        found = connection.execute(_SEGMENTS, {"record_stream_id": row["stream_id"]}).all()
    through = row["text_through"]
    return {
        **_public(row),
        "text": extend_transcript(row["text"], (s.text for s in found if through is None or s.id > through)),
        "segments": "[" + ",".join(segment_json(s) for s in found) + "]",
    }


def records_page(
    engine: Engine, kinds: Sequence[str], before: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` records of ``kinds``, newest first, created before position ``before``;
    and whether there are more. Segments and speaker turns are left out."""
    query = select(*_PAGE_COLUMNS).where(stt_records.c.job_kind.in_(kinds))
    with read_transaction(engine) as connection:
        rows, more = newest_first_in(connection, stt_records, query, before, limit)
        added = _texts_after(connection, [row["stream_id"] for row in rows])
    page = [
        {**_public(row), "text": extend_transcript(row["text"], added.get(row["stream_id"], ()))}
        for row in rows
    ]
    return page, more


def transcript_in(
    connection: Connection, stream_id: str, text: str | None, through: int | None
) -> str | None:
    """The record's transcript now: ``text`` with the segments after ``through`` added."""
    query = select(segments.c.text).where(segments.c.stream_id == stream_id).order_by(segments.c.id)
    if through is not None:
        query = query.where(segments.c.id > through)
    return extend_transcript(text, connection.execute(query).scalars())


def last_segment_id_in(connection: Connection, stream_id: str) -> int | None:
    """The highest id among the record's segments; None before its first."""
    return connection.execute(
        select(func.max(segments.c.id)).where(segments.c.stream_id == stream_id)
    ).scalar_one_or_none()


def segment_json(segment: Row[Any]) -> str:
    """A segment row as its event's payload, encoded as ``eventstore.base.dumps`` encodes it (keys
    sorted, no spaces, strings as ``ensure_ascii=False`` writes them, floats by ``repr``): byte for
    byte what the record's ``segments`` list has always held. Written out by hand, ``words`` (stored
    encoded) as it is: a record's whole list is read at every request for it."""
    speaker = "null" if segment.speaker is None else encode_basestring(segment.speaker)
    return (
        f'{{"end":{float(segment.end)!r},"id":{int(segment.id)},"speaker":{speaker},'
        f'"start":{float(segment.start)!r},"text":{encode_basestring(segment.text)},"words":{segment.words}}}'
    )


def _texts_after(connection: Connection, stream_ids: Sequence[str]) -> dict[str, list[str]]:
    """By stream: the texts of the segments its stored ``text`` does not hold yet (a job still
    running: every segment of the run), in order."""
    if not stream_ids:
        return {}
    query = (
        select(segments.c.stream_id, segments.c.text)
        .join(stt_records, stt_records.c.stream_id == segments.c.stream_id)
        .where(
            segments.c.stream_id.in_(stream_ids),
            or_(stt_records.c.text_through.is_(None), segments.c.id > stt_records.c.text_through),
        )
        .order_by(segments.c.stream_id, segments.c.id)
    )
    texts: dict[str, list[str]] = {}
    for stream_id, text in connection.execute(query):
        texts.setdefault(stream_id, []).append(text)
    return texts


def _public(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in _INTERNAL}
