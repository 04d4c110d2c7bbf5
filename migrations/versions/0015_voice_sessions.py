"""The voice sessions projection (``voice_sessions``). Voice sessions are new: no stored event is a
voice session event yet.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_sessions",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("turn_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_voice_sessions_position", "voice_sessions", ["created_position"])


def downgrade() -> None:
    op.drop_index("ix_voice_sessions_position", "voice_sessions")
    op.drop_table("voice_sessions")
