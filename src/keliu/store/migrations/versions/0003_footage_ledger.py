"""Footage ledger (录像台账: idempotent, resumable ingest of recorded files), camera outages (设备离线)
and setting sources (which of config, import or API last set a site setting).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "footage",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=False),
        sa.Column("segment_s", sa.Float(), nullable=False),
        sa.Column("segments_done", sa.Integer(), nullable=False),
        sa.Column("vision_done", sa.Boolean(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "camera_id", "fingerprint", name="pk_footage"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_footage_sites", ondelete="CASCADE"),
    )
    op.create_table(
        "camera_outages",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "camera_id", "started_at", name="pk_camera_outages"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_camera_outages_sites", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "setting_sources",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("setting", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "setting", name="pk_setting_sources"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_setting_sources_sites", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("setting_sources")
    op.drop_table("camera_outages")
    op.drop_table("footage")
