"""Media references projection (``media_references``), filled from the events already stored.

Self-contained: the rules it fills the table by are copied below as they were when it was written
(``domain/media_refs.py`` at commit 59de42d); it imports nothing of the application. They have
grown since (a saved voice's audio, a media path's upload, which replaces its stream's claims),
but only for events that came with revisions 0004 and 0006: a database still at 0002 holds none,
so these rules fill the table exactly as the projection of today would.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# --- frozen: domain/media_refs.py as of this revision ---------------------------------------

_DIGEST = re.compile(r"^[0-9a-f]{64}$")

MEDIA_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    # A job's input: the audio to transcribe, diarize or align; a speech job's reference voice.
    "requested": (("params", "audio"), ("params", "reference_audio")),
    # A speech job's sentence, and a speech record's whole audio.
    "chunk_synthesized": (("media",),),
    "completed": (("result", "audio"),),
}
"""By event verb (in any category): where in the event's data a media digest may be."""

RELEASING_VERBS = frozenset({"record_deleted", "deleted"})
"""Events after which their stream claims no media object."""

RELEASED = "released"
"""The digest recorded for a released stream (never a sha256 digest): it claims nothing more."""


def verb_of(event_type: str) -> str:
    return event_type.partition(".")[2]


def claimed_media(event_type: str, data: Mapping[str, Any]) -> list[str]:
    """The media digests the event claims for its stream, each once."""
    found: list[str] = []
    for path in MEDIA_FIELDS.get(verb_of(event_type), ()):
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and _DIGEST.match(value) and value not in found:
            found.append(value)
    return found


def releases_media(event_type: str) -> bool:
    return verb_of(event_type) in RELEASING_VERBS


# --- the revision --------------------------------------------------------------------------


def upgrade() -> None:
    table = op.create_table(
        "media_references",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("stream_id", sa.String(200), primary_key=True),
    )
    op.create_index("ix_media_references_stream", "media_references", ["stream_id"])
    # As the projection (app/projections/media_refs.py) would have recorded them.
    claims: dict[str, set[str]] = {}
    events = op.get_bind().execute(sa.text("SELECT stream_id, type, data FROM events ORDER BY position"))
    for stream_id, event_type, data in events:
        if releases_media(event_type):
            claims[stream_id] = {RELEASED}
        elif RELEASED not in claims.get(stream_id, set()):
            claims.setdefault(stream_id, set()).update(claimed_media(event_type, json.loads(data)))
    rows = [{"digest": d, "stream_id": s} for s, digests in claims.items() for d in sorted(digests)]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("media_references")
