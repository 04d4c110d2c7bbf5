"""Speech-to-text records projection (``stt_records``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stt_records",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("job_kind", sa.String(32), nullable=False),
        sa.Column("processing_status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=True),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("completed_at", sa.Float(), nullable=True),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.Column("audio", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("diarization_model", sa.String(200), nullable=True),
        sa.Column("language", sa.String(32), nullable=True),
        sa.Column("min_speakers", sa.Integer(), nullable=True),
        sa.Column("max_speakers", sa.Integer(), nullable=True),
        sa.Column("generate_summary", sa.Boolean(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("segments", sa.Text(), nullable=False),
        sa.Column("speakers", sa.Text(), nullable=False),
        sa.Column("speaker_labels", sa.Text(), nullable=False),
        sa.Column("speaker_turns", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("summary_status", sa.String(16), nullable=False),
        sa.Column("summary_id", sa.String(100), nullable=True),
        sa.Column("summary_model", sa.String(200), nullable=True),
        sa.Column("summary_error", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
    )
    op.create_index("ix_stt_records_id", "stt_records", ["id"])
    op.create_index("ix_stt_records_kind_position", "stt_records", ["job_kind", "created_position"])
    op.create_index("ix_stt_records_position", "stt_records", ["created_position"])
    op.create_index("ix_stt_records_audio", "stt_records", ["audio"])


def downgrade() -> None:
    op.drop_table("stt_records")
