"""Initial schema: sites, cameras, lines, zones, sightings, visits, entries, batches, staff,
exclusion classes and remembered signatures.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = 255


def _utc() -> sa.DateTime:
    # keliu.store.types.UTCDateTime stores this type (timestamptz on PostgreSQL, text on SQLite)
    return sa.DateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_sites", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("dedup_window_s", sa.Float(), nullable=False),
        sa.Column("returning_memory_days", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
    )
    op.create_table(
        "cameras",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "camera_id", name="pk_cameras"),
        _site_fk("cameras"),
    )
    for table, key in (("lines", "line_id"), ("zones", "zone_id")):
        op.create_table(
            table,
            sa.Column("site_id", sa.String(ID), nullable=False),
            sa.Column("camera_id", sa.String(ID), nullable=False),
            sa.Column(key, sa.String(ID), nullable=False),
            sa.Column("geometry", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("site_id", "camera_id", key, name=f"pk_{table}"),
            sa.ForeignKeyConstraint(
                ["site_id", "camera_id"],
                ["cameras.site_id", "cameras.camera_id"],
                name=f"fk_{table}_cameras",
                ondelete="CASCADE",
            ),
        )
    op.create_table(
        "sightings",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("crossings", sa.JSON(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sightings"),
        sa.UniqueConstraint(
            "site_id",
            "camera_id",
            "track_id",
            "first_seen",
            name="uq_sightings_site_id_camera_id_track_id_first_seen",
        ),
        _site_fk("sightings"),
    )
    op.create_index("ix_sightings_site_id_last_seen", "sightings", ["site_id", "last_seen"])
    op.create_table(
        "visits",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("visit_id", sa.String(ID), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("first_entry", _utc(), nullable=False),
        sa.Column("last_exit", _utc(), nullable=True),
        sa.Column("exclusion_category", sa.String(16), nullable=True),
        sa.Column("exclusion_reason", sa.String(200), nullable=True),
        sa.Column("exclusion_confidence", sa.Float(), nullable=True),
        sa.Column("batch_id", sa.String(ID), nullable=True),
        sa.Column("is_returning", sa.Boolean(), nullable=False),
        sa.Column("since_previous_s", sa.Float(), nullable=True),
        sa.Column("upper_colour", sa.String(16), nullable=True),
        sa.Column("lower_colour", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "visit_id", name="pk_visits"),
        _site_fk("visits"),
    )
    op.create_index("ix_visits_site_id_first_entry", "visits", ["site_id", "first_entry"])
    op.create_index("ix_visits_site_id_batch_id", "visits", ["site_id", "batch_id"])
    op.create_table(
        "entries",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("visit_id", sa.String(ID), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("line_id", sa.String(ID), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "visit_id", "at", "camera_id", "line_id", name="pk_entries"),
        sa.ForeignKeyConstraint(
            ["site_id", "visit_id"],
            ["visits.site_id", "visits.visit_id"],
            name="fk_entries_visits",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_entries_site_id_at", "entries", ["site_id", "at"])
    op.create_table(
        "batches",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("batch_id", sa.String(ID), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "batch_id", name="pk_batches"),
        _site_fk("batches"),
    )
    op.create_index("ix_batches_site_id_started_at", "batches", ["site_id", "started_at"])
    op.create_table(
        "staff",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("staff_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("signatures", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "staff_id", name="pk_staff"),
        _site_fk("staff"),
    )
    op.create_table(
        "exclusion_classes",
        sa.Column("scope", sa.String(ID), nullable=False),
        sa.Column("class_id", sa.String(ID), nullable=False),
        sa.Column("site_id", sa.String(ID), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("colour_rule", sa.JSON(), nullable=True),
        sa.Column("exemplars", sa.LargeBinary(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "class_id", name="pk_exclusion_classes"),
        _site_fk("exclusion_classes"),
    )
    op.create_index("ix_exclusion_classes_site_id", "exclusion_classes", ["site_id"])
    op.create_table(
        "remembered",
        sa.Column("site_id", sa.String(ID), nullable=False),
        sa.Column("visit_id", sa.String(ID), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "visit_id", name="pk_remembered"),
        _site_fk("remembered"),
    )
    op.create_index("ix_remembered_site_id_expires_at", "remembered", ["site_id", "expires_at"])
    op.create_index("ix_remembered_expires_at", "remembered", ["expires_at"])


def downgrade() -> None:
    for table in (
        "remembered",
        "exclusion_classes",
        "staff",
        "batches",
        "entries",
        "visits",
        "sightings",
        "zones",
        "lines",
        "cameras",
        "sites",
    ):
        op.drop_table(table)
