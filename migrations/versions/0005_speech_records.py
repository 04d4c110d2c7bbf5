"""Speech history records projection (``speech_records``). Records are new: no stored event is a
record's yet (``SpeechParams`` refused ``record`` before), so the table starts empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "speech_records",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("completed_at", sa.Float(), nullable=True),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("voice", sa.String(200), nullable=True),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("language", sa.String(32), nullable=True),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("reference_audio", sa.String(64), nullable=True),
        sa.Column("reference_text", sa.Text(), nullable=True),
        sa.Column("saved_voice_id", sa.String(100), nullable=True),
        sa.Column("audio", sa.String(64), nullable=True),
        sa.Column("duration_secs", sa.Float(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
    )
    op.create_index("ix_speech_records_id", "speech_records", ["id"])
    op.create_index("ix_speech_records_family_position", "speech_records", ["family", "created_position"])


def downgrade() -> None:
    op.drop_table("speech_records")
