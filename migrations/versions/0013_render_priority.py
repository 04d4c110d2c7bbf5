"""Studio render priority: ``studio_renders.priority`` (0 for the renders recorded before), and
an index to find the most urgent queued render.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studio_renders") as table:
        table.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_studio_renders_waiting", "studio_renders", ["status", "priority"])


def downgrade() -> None:
    op.drop_index("ix_studio_renders_waiting", "studio_renders")
    with op.batch_alter_table("studio_renders") as table:
        table.drop_column("priority")
