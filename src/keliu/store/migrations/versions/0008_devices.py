"""Devices (设备) managed through the API: each camera's full configuration, its source sealed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "camera_id", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["site_id", "camera_id"],
            ["cameras.site_id", "cameras.camera_id"],
            name="fk_devices_cameras",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("devices")
