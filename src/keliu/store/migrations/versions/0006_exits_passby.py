"""Exits (离店: every 'out' crossing of a door line, linked to its visit or not), crossings of pass-by
lines (过店), and three additive rollup metrics: ``exits`` (customer exits), ``door_in`` and
``door_out`` (every crossing of a door line, whoever made it).

Existing rollup rows read 0 for the new metrics (server default): no exits were stored before this
revision, but ``door_in`` of hours already rolled up stays 0 until ``keliu rollups rebuild`` restates
them from the stored entries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255
NEW_METRICS = ("exits", "door_in", "door_out")  # frozen copy: appended to ROLLUP_METRICS at 0006
ROLLUP_TABLES = ("traffic_hourly", "traffic_daily", "traffic_monthly")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _crossing_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "exits",
        *_crossing_columns(),
        sa.Column("visit_id", sa.String(ID), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "camera_id", "line_id", "at", "track_id", name="pk_exits"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_exits_sites", ondelete="CASCADE"),
    )
    op.create_index("ix_exits_site_id_at", "exits", ["site_id", "at"])
    op.create_index("ix_exits_site_id_visit_id", "exits", ["site_id", "visit_id"])
    op.create_table(
        "passby_crossings",
        *_crossing_columns(),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id", "camera_id", "line_id", "at", "track_id", name="pk_passby_crossings"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_passby_crossings_sites", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_passby_crossings_site_id_at", "passby_crossings", ["site_id", "at"])
    for table in ROLLUP_TABLES:
        for name in NEW_METRICS:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    for table in ROLLUP_TABLES:
        with op.batch_alter_table(table) as batch:
            for name in reversed(NEW_METRICS):
                batch.drop_column(name)
    op.drop_index("ix_passby_crossings_site_id_at", table_name="passby_crossings")
    op.drop_table("passby_crossings")
    op.drop_index("ix_exits_site_id_visit_id", table_name="exits")
    op.drop_index("ix_exits_site_id_at", table_name="exits")
    op.drop_table("exits")
