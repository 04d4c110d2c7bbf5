"""Media references projection (``media_references``), filled from the events already stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from domain.media_refs import RELEASED, claimed_media, releases_media

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


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
