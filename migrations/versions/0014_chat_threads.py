"""The chat threads projection (``chat_threads``). Threads are new: no stored event is a thread
event yet.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_threads",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("last_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_chat_threads_position", "chat_threads", ["created_position"])


def downgrade() -> None:
    op.drop_index("ix_chat_threads_position", "chat_threads")
    op.drop_table("chat_threads")
