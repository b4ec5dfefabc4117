"""Reception (接待: classification and advisor of an arrival batch) and staff suggestions (员工建议)
waiting for a manager's decision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "receptions",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("batch_id", sa.String(ID), nullable=False),
        sa.Column("category", sa.String(16), nullable=True),
        sa.Column("advisor", sa.String(200), nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "batch_id", name="pk_receptions"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_receptions_sites", ondelete="CASCADE"),
    )
    op.create_table(
        "staff_suggestions",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("person_key", sa.String(ID), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("present_s", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("visit_ids", sa.JSON(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "person_key", "day", name="pk_staff_suggestions"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_staff_suggestions_sites", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("staff_suggestions")
    op.drop_table("receptions")
