"""Studio schedule projections (``studio_schedules``, ``studio_schedule_runs``). Schedules are new:
no stored event is a schedule event yet.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studio_schedules",
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("project_id", sa.String(100), nullable=True),
        sa.Column("folder_id", sa.String(100), nullable=True),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("anchor", sa.Float(), nullable=False),
        sa.Column("fired_through", sa.Float(), nullable=False),
        sa.Column("next_fire_at", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_renders", sa.Text(), nullable=False),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_studio_schedules_position", "studio_schedules", ["created_position"])
    op.create_index("ix_studio_schedules_due", "studio_schedules", ["enabled", "next_fire_at"])
    op.create_table(
        "studio_schedule_runs",
        sa.Column("run_id", sa.String(100), primary_key=True),
        sa.Column("schedule_id", sa.String(100), nullable=False),
        sa.Column("fire_time", sa.Float(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("export_format", sa.String(16), nullable=True),
        sa.Column("exports", sa.Text(), nullable=False),
        sa.Column("pending_exports", sa.Integer(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_studio_schedule_runs_schedule", "studio_schedule_runs", ["schedule_id", "created_position"])
    op.create_index("ix_studio_schedule_runs_pending", "studio_schedule_runs", ["pending_exports"])


def downgrade() -> None:
    op.drop_table("studio_schedule_runs")
    op.drop_table("studio_schedules")
