"""Manual corrections of visits (人工干预过滤): a manager's category and reason, and what the
resolution had decided, so that undoing the correction restores it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "visit_corrections",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("visit_id", sa.String(ID), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("corrected_by", sa.String(64), nullable=True),
        sa.Column("corrected_at", _utc(), nullable=False),
        sa.Column("original_category", sa.String(16), nullable=False),
        sa.Column("original_exclusion_category", sa.String(16), nullable=True),
        sa.Column("original_exclusion_reason", sa.String(200), nullable=True),
        sa.Column("original_exclusion_confidence", sa.Float(), nullable=True),
        sa.Column("original_batch_id", sa.String(ID), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "visit_id", name="pk_visit_corrections"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_visit_corrections_sites", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("visit_corrections")
