"""Media objects projection (``media_objects``). Media paths are new: no stored event is one's yet.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_objects",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_media_objects_position", "media_objects", ["created_position"])
    op.create_index("ix_media_objects_path", "media_objects", ["path"], unique=True)


def downgrade() -> None:
    op.drop_table("media_objects")
