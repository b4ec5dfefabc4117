"""Message rules (消息规则): a site's threshold rules and the messages they fired.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_sites", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "message_rules",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("compare", sa.String(8), nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("min_count", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("last_period", sa.String(32), nullable=True),
        sa.Column("last_fired_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "rule_id", name="pk_message_rules"),
        _site_fk("message_rules"),
    )
    op.create_table(
        "messages",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("rule_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("text", sa.String(1000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "message_id", name="pk_messages"),
        _site_fk("messages"),
    )
    op.create_index("ix_messages_site_id_at", "messages", ["site_id", "at"])
    op.create_index("ix_messages_at", "messages", ["at"])


def downgrade() -> None:
    op.drop_index("ix_messages_at", table_name="messages")
    op.drop_index("ix_messages_site_id_at", table_name="messages")
    op.drop_table("messages")
    op.drop_table("message_rules")
