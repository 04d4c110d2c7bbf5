"""Studio projections (``studio_folders``, ``studio_projects``, ``studio_renders``). Studio is new:
no stored event is a Studio event yet.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _kept(*columns: sa.Column) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        *columns,
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "studio_folders",
        *_kept(
            sa.Column("stream_id", sa.String(200), primary_key=True),
            sa.Column("id", sa.String(100), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
        ),
    )
    op.create_index("ix_studio_folders_position", "studio_folders", ["created_position"])
    op.create_table(
        "studio_projects",
        *_kept(
            sa.Column("stream_id", sa.String(200), primary_key=True),
            sa.Column("id", sa.String(100), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("folder_id", sa.String(100), nullable=True),
            sa.Column("model", sa.String(200), nullable=False),
            sa.Column("segment_count", sa.Integer(), nullable=False),
        ),
    )
    op.create_index("ix_studio_projects_position", "studio_projects", ["created_position"])
    op.create_index("ix_studio_projects_folder", "studio_projects", ["folder_id", "created_position"])
    op.create_table(
        "studio_renders",
        *_kept(
            sa.Column("stream_id", sa.String(200), primary_key=True),
            sa.Column("id", sa.String(100), nullable=False),
            sa.Column("project_id", sa.String(100), nullable=False),
            sa.Column("project_version", sa.Integer(), nullable=False),
            sa.Column("segment_ids", sa.Text(), nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("progress", sa.Float(), nullable=False),
            sa.Column("result", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
        ),
    )
    op.create_index("ix_studio_renders_project", "studio_renders", ["project_id", "created_position"])


def downgrade() -> None:
    op.drop_table("studio_renders")
    op.drop_table("studio_projects")
    op.drop_table("studio_folders")
