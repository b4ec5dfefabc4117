"""Analytics: reference data (entrances, areas, business hours, site profiles, targets, manual counts,
weather, pass-by counts), zone stays of visits, and the traffic rollups (hourly, daily, monthly).

The rollups are derived data: after upgrading, ``keliu.analytics.rollups.rebuild_rollups`` fills them
from the visits already stored (an empty rollup reads as zero traffic).

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

ID = 255

# frozen copy of keliu.store.schema.ROLLUP_METRICS at this revision
METRICS = (
    "entries",
    "entries_outside_hours",
    "visits",
    "new_visits",
    "returning_visits",
    "returning_hf",
    "staff",
    "invalid",
    "outside_hours",
    "batches",
    "received",
    "dwell_sum_s",
    "dwell_count",
    "passby",
    "ret_1_3",
    "ret_4_7",
    "ret_8_15",
    "ret_gt15",
)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _site_id() -> sa.Column[str]:
    return sa.Column("site_id", sa.String(ID), nullable=False)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_sites", ondelete="CASCADE")


def _metrics() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.Float() if name == "dwell_sum_s" else sa.Integer(), nullable=False)
        for name in METRICS
    ]


def upgrade() -> None:
    op.create_table(
        "entrances",
        _site_id(),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("entrance_group", sa.String(200), nullable=True),
        sa.Column("is_main", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "camera_id", "line_id", name="pk_entrances"),
        _site_fk("entrances"),
    )
    op.create_table(
        "areas",
        _site_id(),
        sa.Column("zone_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("building", sa.String(200), nullable=True),
        sa.Column("category_l1", sa.String(100), nullable=True),
        sa.Column("category_l2", sa.String(100), nullable=True),
        sa.Column("category_l3", sa.String(100), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "zone_id", name="pk_areas"),
        _site_fk("areas"),
    )
    op.create_table(
        "business_hours",
        _site_id(),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("opens_min", sa.Integer(), nullable=False),
        sa.Column("closes_min", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "weekday", name="pk_business_hours"),
        _site_fk("business_hours"),
    )
    op.create_table(
        "site_profiles",
        _site_id(),
        sa.Column("region", sa.String(200), nullable=True),
        sa.Column("store_type", sa.String(100), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("reception_min_s", sa.Float(), nullable=False),
        sa.Column("week_start", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_site_profiles"),
        _site_fk("site_profiles"),
    )
    op.create_table(
        "targets",
        _site_id(),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "year", "month", "metric", name="pk_targets"),
        _site_fk("targets"),
    )
    op.create_table(
        "manual_counts",
        _site_id(),
        sa.Column("period_start", _utc(), nullable=False),
        sa.Column("period_end", _utc(), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint(
            "site_id", "period_start", "period_end", "camera_id", "line_id", name="pk_manual_counts"
        ),
        _site_fk("manual_counts"),
    )
    op.create_table(
        "weather",
        _site_id(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("condition", sa.String(32), nullable=False),
        sa.Column("temp_high", sa.Float(), nullable=True),
        sa.Column("temp_low", sa.Float(), nullable=True),
        sa.Column("precipitation_mm", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "day", name="pk_weather"),
        _site_fk("weather"),
    )
    op.create_table(
        "passby_counts",
        _site_id(),
        sa.Column("hour", _utc(), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "hour", "camera_id", "line_id", name="pk_passby_counts"),
        _site_fk("passby_counts"),
    )
    op.create_table(
        "visit_zones",
        _site_id(),
        sa.Column("visit_id", sa.String(ID), nullable=False),
        sa.Column("zone_id", sa.String(ID), nullable=False),
        sa.Column("entered_at", _utc(), nullable=False),
        sa.Column("left_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "visit_id", "zone_id", "entered_at", name="pk_visit_zones"),
        sa.ForeignKeyConstraint(
            ["site_id", "visit_id"],
            ["visits.site_id", "visits.visit_id"],
            name="fk_visit_zones_visits",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_visit_zones_site_id_entered_at", "visit_zones", ["site_id", "entered_at"])
    op.create_index(
        "ix_visit_zones_site_id_zone_id_entered_at", "visit_zones", ["site_id", "zone_id", "entered_at"]
    )
    op.create_table(
        "traffic_hourly",
        _site_id(),
        sa.Column("hour", _utc(), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        *_metrics(),
        sa.PrimaryKeyConstraint("site_id", "hour", "camera_id", "line_id", name="pk_traffic_hourly"),
        _site_fk("traffic_hourly"),
    )
    op.create_index("ix_traffic_hourly_hour", "traffic_hourly", ["hour"])
    op.create_table(
        "traffic_daily",
        _site_id(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        *_metrics(),
        sa.PrimaryKeyConstraint("site_id", "day", "camera_id", "line_id", name="pk_traffic_daily"),
        _site_fk("traffic_daily"),
    )
    op.create_index("ix_traffic_daily_day", "traffic_daily", ["day"])
    op.create_table(
        "traffic_monthly",
        _site_id(),
        sa.Column("month", sa.Date(), nullable=False),
        *_metrics(),
        sa.PrimaryKeyConstraint("site_id", "month", name="pk_traffic_monthly"),
        _site_fk("traffic_monthly"),
    )
    op.create_index("ix_traffic_monthly_month", "traffic_monthly", ["month"])


def downgrade() -> None:
    for table in (
        "traffic_monthly",
        "traffic_daily",
        "traffic_hourly",
        "visit_zones",
        "passby_counts",
        "weather",
        "manual_counts",
        "targets",
        "site_profiles",
        "business_hours",
        "areas",
        "entrances",
    ):
        op.drop_table(table)
