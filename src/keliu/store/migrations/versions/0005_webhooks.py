"""Webhooks (推送): receivers with their sealed signing secrets, and the persistent delivery outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_sites", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(ID), nullable=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        _site_fk("webhooks"),
    )
    op.create_index("ix_webhooks_site_id", "webhooks", ["site_id"])
    op.create_table(
        "webhook_outbox",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(ID), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("delivered_at", _utc(), nullable=True),
        sa.Column("dead_at", _utc(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("event_id", "webhook_id", name="pk_webhook_outbox"),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name="fk_webhook_outbox_webhooks", ondelete="CASCADE"
        ),
        _site_fk("webhook_outbox"),
    )
    op.create_index("ix_webhook_outbox_next_attempt_at", "webhook_outbox", ["next_attempt_at"])
    op.create_index("ix_webhook_outbox_webhook_id_created_at", "webhook_outbox", ["webhook_id", "created_at"])
    op.create_index("ix_webhook_outbox_delivered_at", "webhook_outbox", ["delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_delivered_at", table_name="webhook_outbox")
    op.drop_index("ix_webhook_outbox_webhook_id_created_at", table_name="webhook_outbox")
    op.drop_index("ix_webhook_outbox_next_attempt_at", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_index("ix_webhooks_site_id", table_name="webhooks")
    op.drop_table("webhooks")
