"""Speech-to-text record segments as rows (``stt_record_segments``), so that appending a segment
no longer rewrites the record's whole ``segments`` JSON and ``text`` (issue 11).

The rows are filled from each record's ``segments`` column, which then goes. A record's ``text``
is now stored only when an event sets it (the job's end, an edit), with ``text_through``, the
highest segment id it holds; the segments after it are added when the record is read. Which
event last set it is in the events: they are folded here as the projection
(app/projections/stt_records.py as of this revision) folds them, so the table equals a rebuild.

Self-contained: what it needs of the projection's rules is copied below, as they were when it
was written; it imports nothing of the application.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# --- frozen: the rules this revision's projection follows -------------------------------------

_CATEGORIES = ("transcription", "diarization")
_DIARIZATION = "diarization"  # a job kind without a transcript
_ENDED = ("failed", "cancelled")


def _dumps(value: Any) -> str:
    """``eventstore.base.dumps``: how every JSON column is encoded."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _extend(text: str | None, segment_texts: Iterable[str]) -> str | None:
    """``domain.transcription.extend_transcript``: each segment's line after the text so far."""
    for segment_text in segment_texts:
        if line := _one_line(segment_text):
            text = f"{text} {line}" if text else line
    return text


_VERBS = ("requested", "segment_transcribed", "record_updated", "completed", *_ENDED)


class _Fold:
    """One record's transcript through its current run's events (a plain class: Alembic loads a
    revision outside ``sys.modules``, where a dataclass cannot be made)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.text: str | None = None
        """The stored text: as of the last event that set it."""
        self.through: int | None = None
        """The highest segment id ``text`` holds."""
        self.running: str | None = None
        """The whole transcript so far (what the ``text`` column held before this revision)."""
        self.last_id: int | None = None
        self.seen: set[int] = set()

    def apply(self, verb: str, data: dict[str, Any]) -> _Fold:
        """The fold after one event of the record's stream."""
        if verb == "requested":  # a rerun starts the results over
            return _Fold(self.kind)
        if verb == "segment_transcribed" and data["id"] not in self.seen:
            self.seen.add(data["id"])
            self.last_id = data["id"] if self.last_id is None else max(self.last_id, data["id"])
            self.running = _extend(self.running, [data["text"]])
        elif verb == "record_updated" and "text" in data:
            self._store(data["text"])
        elif verb == "completed":
            text = (data.get("result") or {}).get("text")
            self._store(text if self.kind != _DIARIZATION and isinstance(text, str) else self.running)
        elif verb in _ENDED:
            self._store(self.running)
        return self

    def _store(self, text: str | None) -> None:
        self.text = self.running = text
        self.through = self.last_id


# --- the revision --------------------------------------------------------------------------


def upgrade() -> None:
    segments = op.create_table(
        "stt_record_segments",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("speaker", sa.String(100), nullable=True),
    )
    with op.batch_alter_table("stt_records") as batch:
        batch.add_column(sa.Column("text_through", sa.Integer(), nullable=True))

    bind = op.get_bind()
    records = bind.execute(sa.text("SELECT stream_id, job_kind, text FROM stt_records")).all()
    folds = _folds(bind, {stream_id: kind for stream_id, kind, _ in records})
    for stream_id, _, text in records:
        encoded = bind.execute(
            sa.text("SELECT segments FROM stt_records WHERE stream_id = :id"), {"id": stream_id}
        ).scalar_one()
        stored: list[dict[str, Any]] = json.loads(encoded)
        rows = [
            {
                "stream_id": stream_id,
                "id": segment["id"],
                "start": segment["start"],
                "end": segment["end"],
                "text": segment["text"],
                "words": _dumps(segment.get("words", [])),
                "speaker": segment.get("speaker"),
            }
            for segment in stored
        ]
        if rows:
            op.bulk_insert(segments, rows)
        fold = folds[stream_id]
        if fold.running != text:
            # Not what the events make (never expected): keep the text the record showed, whole.
            fold.text, fold.through = text, max((s["id"] for s in stored), default=None)
        if (fold.text, fold.through) != (text, None):
            bind.execute(
                sa.text("UPDATE stt_records SET text = :text, text_through = :through WHERE stream_id = :id"),
                {"text": fold.text, "through": fold.through, "id": stream_id},
            )

    with op.batch_alter_table("stt_records") as batch:
        batch.drop_column("segments")


def _folds(bind: sa.Connection, kinds: dict[str, str]) -> dict[str, _Fold]:
    """By record stream: its events folded, in order."""
    folds = {stream_id: _Fold(kind) for stream_id, kind in kinds.items()}
    if not folds:
        return folds
    types = sa.bindparam("types", [f"{c}.{v}" for c in _CATEGORIES for v in _VERBS], expanding=True)
    events = bind.execute(
        sa.text("SELECT stream_id, type, data FROM events WHERE type IN :types ORDER BY position").bindparams(
            types
        )
    )
    for stream_id, event_type, data in events:
        fold = folds.get(stream_id)
        if fold is not None:
            folds[stream_id] = fold.apply(event_type.partition(".")[2], json.loads(data))
    return folds


def downgrade() -> None:
    with op.batch_alter_table("stt_records") as batch:
        batch.add_column(sa.Column("segments", sa.Text(), nullable=False, server_default="[]"))

    bind = op.get_bind()
    records = bind.execute(sa.text("SELECT stream_id, text, text_through FROM stt_records")).all()
    for stream_id, text, through in records:
        stored = bind.execute(
            sa.text(
                'SELECT id, start, "end", text, words, speaker FROM stt_record_segments '
                "WHERE stream_id = :id ORDER BY id"
            ),
            {"id": stream_id},
        ).all()
        if not stored:
            continue
        payloads = [
            {"id": i, "start": s, "end": e, "text": t, "words": json.loads(w), "speaker": speaker}
            for i, s, e, t, w, speaker in stored
        ]
        running = _extend(text, (t for i, _, _, t, _, _ in stored if through is None or i > through))
        bind.execute(
            sa.text("UPDATE stt_records SET segments = :segments, text = :text WHERE stream_id = :id"),
            {"segments": _dumps(payloads), "text": running, "id": stream_id},
        )

    with op.batch_alter_table("stt_records") as batch:
        batch.alter_column("segments", existing_type=sa.Text(), server_default=None)
        batch.drop_column("text_through")
    op.drop_table("stt_record_segments")
