"""Batch merges and splits (批次 合并/拆分): the batch the reception desk put a visit into by hand,
and the batch the resolution gave it last.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def upgrade() -> None:
    op.create_table(
        "batch_assignments",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("visit_id", sa.String(ID), nullable=False),
        sa.Column("batch_id", sa.String(ID), nullable=False),
        sa.Column("original_batch_id", sa.String(ID), nullable=True),
        sa.Column("assigned_by", sa.String(64), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "visit_id", name="pk_batch_assignments"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_batch_assignments_sites", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_batch_assignments_site_id_original_batch_id",
        "batch_assignments",
        ["site_id", "original_batch_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_batch_assignments_site_id_original_batch_id", table_name="batch_assignments")
    op.drop_table("batch_assignments")
