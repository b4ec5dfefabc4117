"""The database schema (SQLAlchemy Core). One schema for SQLite (embedded) and PostgreSQL (central).

Every change here needs a new hand-written migration in ``migrations/versions``; the integration test
``test_migrations_match_models`` fails while the two differ.

Conventions: ids are the strings the config and the resolver give (sites, cameras, lines, visits);
timestamps are :class:`UTCDateTime`; signatures are only ever stored as AES-GCM blobs
(``keliu.store.crypto``), never as plain vectors; no pixels anywhere. Visits, entries and sightings
name cameras and lines by id without a foreign key, so history survives a camera being removed from
the config and a central server can ingest before it has the edge's camera list.
"""

from __future__ import annotations

import sqlalchemy as sa

from keliu.store.types import UTCDateTime

__all__ = [
    "ROLLUP_METRICS",
    "api_tokens",
    "areas",
    "audit_log",
    "batch_assignments",
    "batches",
    "business_hours",
    "camera_outages",
    "cameras",
    "devices",
    "entrances",
    "entries",
    "exclusion_classes",
    "exits",
    "footage",
    "lines",
    "manual_counts",
    "message_rules",
    "messages",
    "metadata",
    "organisation",
    "passby_counts",
    "passby_crossings",
    "receptions",
    "remembered",
    "sessions",
    "setting_sources",
    "sightings",
    "site_profiles",
    "sites",
    "staff",
    "staff_suggestions",
    "targets",
    "traffic_daily",
    "traffic_hourly",
    "traffic_monthly",
    "user_sites",
    "users",
    "visit_corrections",
    "visit_zones",
    "visits",
    "weather",
    "webhook_outbox",
    "webhooks",
    "zones",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

ID = 255  # length of ids (site, camera, line, zone, visit, batch, staff, class)
_CASCADE = "CASCADE"


def _site_fk(nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        "site_id", sa.String(ID), sa.ForeignKey("sites.id", ondelete=_CASCADE), nullable=nullable
    )


sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),  # IANA name; reports bucket in local time
    sa.Column("dedup_window_s", sa.Float, nullable=False),
    sa.Column("returning_memory_days", sa.Float, nullable=False),
)

cameras = sa.Table(
    "cameras",
    metadata,
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    sa.PrimaryKeyConstraint("site_id", "camera_id"),
)

# geometry: {"a": [x, y], "b": [x, y], "inside": [x, y]} in frame fractions
lines = sa.Table(
    "lines",
    metadata,
    sa.Column("site_id", sa.String(ID), nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "line_id"),
    sa.ForeignKeyConstraint(
        ["site_id", "camera_id"], ["cameras.site_id", "cameras.camera_id"], ondelete=_CASCADE
    ),
)

# geometry: {"polygon": [[x, y], ...]} in frame fractions
zones = sa.Table(
    "zones",
    metadata,
    sa.Column("site_id", sa.String(ID), nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("zone_id", sa.String(ID), nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "zone_id"),
    sa.ForeignKeyConstraint(
        ["site_id", "camera_id"], ["cameras.site_id", "cameras.camera_id"], ondelete=_CASCADE
    ),
)

# crossings: [{"line_id", "direction", "at" (ISO UTC), "point": [x, y]}]; zones: [{"zone_id",
# "entered_at", "left_at"}]. signature: encrypted blob or NULL (none, or purged after its purpose).
sightings = sa.Table(
    "sightings",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("track_id", sa.BigInteger, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("crossings", sa.JSON, nullable=False),
    sa.Column("zones", sa.JSON, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=True),
    sa.UniqueConstraint("site_id", "camera_id", "track_id", "first_seen"),
    sa.Index(None, "site_id", "last_seen"),
)

# 录像台账 footage ledger: which recorded file of a camera has been ingested and how far. A file is
# named by a fingerprint of its content (not its path), so ingesting the same footage again changes
# nothing; it is processed in segments of ``segment_s`` seconds of video, each committed together with
# its sightings (``segments_done``), so a killed run resumes where it stopped; ``resolved`` is set in
# the transaction that saves the visits made from its sightings. ``ended_at`` is an estimate from the
# container until ``vision_done``.
footage = sa.Table(
    "footage",
    metadata,
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("source", sa.String(1000), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=False),
    sa.Column("segment_s", sa.Float, nullable=False),
    sa.Column("segments_done", sa.Integer, nullable=False),
    sa.Column("vision_done", sa.Boolean, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "fingerprint"),
)

# 设备离线 camera outages: a live camera delivered no frames from started_at until ended_at (None: still
# out, or the run stopped during it); attempts = failed reconnections; reason is the last one's error
# (credentials masked).
camera_outages = sa.Table(
    "camera_outages",
    metadata,
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "started_at"),
)

# Who last set a site setting (``setting``, e.g. "business_hours"): "config" (the site YAML, written by
# ``keliu process``), "import" (``keliu import``) or "api". A setting set by import or the API is never
# overwritten from the config (docs/configuration.md, "Which source wins").
setting_sources = sa.Table(
    "setting_sources",
    metadata,
    _site_fk(),
    sa.Column("setting", sa.String(64), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "setting"),
)

visits = sa.Table(
    "visits",
    metadata,
    _site_fk(),
    sa.Column("visit_id", sa.String(ID), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),  # PersonCategory value
    sa.Column("first_entry", UTCDateTime, nullable=False),
    sa.Column("last_exit", UTCDateTime, nullable=True),
    sa.Column("exclusion_category", sa.String(16), nullable=True),
    sa.Column("exclusion_reason", sa.String(200), nullable=True),
    sa.Column("exclusion_confidence", sa.Float, nullable=True),
    sa.Column("batch_id", sa.String(ID), nullable=True),
    sa.Column("is_returning", sa.Boolean, nullable=False),
    sa.Column("since_previous_s", sa.Float, nullable=True),
    sa.Column("upper_colour", sa.String(16), nullable=True),
    sa.Column("lower_colour", sa.String(16), nullable=True),
    sa.PrimaryKeyConstraint("site_id", "visit_id"),
    sa.Index(None, "site_id", "first_entry"),
    sa.Index(None, "site_id", "batch_id"),
)

# One row per 'in' crossing: total traffic (总客流) counts these.
entries = sa.Table(
    "entries",
    metadata,
    sa.Column("site_id", sa.String(ID), nullable=False),
    sa.Column("visit_id", sa.String(ID), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.PrimaryKeyConstraint("site_id", "visit_id", "at", "camera_id", "line_id"),
    sa.ForeignKeyConstraint(
        ["site_id", "visit_id"], ["visits.site_id", "visits.visit_id"], ondelete=_CASCADE
    ),
    sa.Index(None, "site_id", "at"),
)

# Derived from visits.batch_id on every save: size counts the batch's customer visits.
batches = sa.Table(
    "batches",
    metadata,
    _site_fk(),
    sa.Column("batch_id", sa.String(ID), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "batch_id"),
    sa.Index(None, "site_id", "started_at"),
)

staff = sa.Table(
    "staff",
    metadata,
    _site_fk(),
    sa.Column("staff_id", sa.String(ID), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("signatures", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "staff_id"),
)

# scope: the site id, or GLOBAL_SCOPE for a class every site uses (site_id NULL).
# colour_rule: {"upper_colours": [...], "lower_colours": [...], "max_stay_s": float | null} or NULL.
exclusion_classes = sa.Table(
    "exclusion_classes",
    metadata,
    sa.Column("scope", sa.String(ID), nullable=False),
    sa.Column("class_id", sa.String(ID), nullable=False),
    _site_fk(nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("colour_rule", sa.JSON, nullable=True),
    sa.Column("exemplars", sa.LargeBinary, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("scope", "class_id"),
    sa.Index(None, "site_id"),
)
GLOBAL_SCOPE = "*"  # never a valid site id (ids are identifiers)

remembered = sa.Table(
    "remembered",
    metadata,
    _site_fk(),
    sa.Column("visit_id", sa.String(ID), nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "visit_id"),
    sa.Index(None, "site_id", "expires_at"),
    sa.Index(None, "expires_at"),
)


# --------------------------------------------------------------------- analytics: reference data
# (migration 0002). Per site, replaced as a whole by the Store's reference-data methods.

# 出入口: a door line (camera + line) named as an entrance, in an entrance group (出入口组).
entrances = sa.Table(
    "entrances",
    metadata,
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("entrance_group", sa.String(200), nullable=True),
    sa.Column("is_main", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "line_id"),
)

# 位置: what a zone id means for analytics. kind: shop (商铺) | floor (楼层) | area (区域) |
# reception (接待区). category_l1..l3: the three-level 业态 of a shop.
areas = sa.Table(
    "areas",
    metadata,
    _site_fk(),
    sa.Column("zone_id", sa.String(ID), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("floor", sa.Integer, nullable=True),
    sa.Column("building", sa.String(200), nullable=True),
    sa.Column("category_l1", sa.String(100), nullable=True),
    sa.Column("category_l2", sa.String(100), nullable=True),
    sa.Column("category_l3", sa.String(100), nullable=True),
    sa.Column("area_m2", sa.Float, nullable=True),
    sa.PrimaryKeyConstraint("site_id", "zone_id"),
)

# 营业时间: local opening hours per weekday (0 = Monday), minutes after that day's local midnight;
# closes_min > 1440 is an overnight period, which belongs to the day it opens on (OpeningHours). A
# site with no rows counts all day; a weekday without a row is closed.
business_hours = sa.Table(
    "business_hours",
    metadata,
    _site_fk(),
    sa.Column("weekday", sa.Integer, nullable=False),
    sa.Column("opens_min", sa.Integer, nullable=False),
    sa.Column("closes_min", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "weekday"),
)

# Multi-store attributes (多店): region, store type, ordering weight (权重), floor area, the reception
# rule (接待: a customer visit of at least reception_min_s) and the business cycle (week_start).
site_profiles = sa.Table(
    "site_profiles",
    metadata,
    _site_fk(),
    sa.Column("region", sa.String(200), nullable=True),
    sa.Column("store_type", sa.String(100), nullable=True),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("area_m2", sa.Float, nullable=True),
    sa.Column("reception_min_s", sa.Float, nullable=False),
    sa.Column("week_start", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("site_id"),
)

# 目标: month 0 is the yearly target; metric: "total" (总客流) or "deduplicated" (去重客流).
targets = sa.Table(
    "targets",
    metadata,
    _site_fk(),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("month", sa.Integer, nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("target", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "year", "month", "metric"),
)

# 准确率稽核: people counted by hand at an entrance (camera_id = line_id = "" for the whole site).
manual_counts = sa.Table(
    "manual_counts",
    metadata,
    _site_fk(),
    sa.Column("period_start", UTCDateTime, nullable=False),
    sa.Column("period_end", UTCDateTime, nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("batches", sa.Integer, nullable=True),
    sa.Column("note", sa.String(500), nullable=True),
    sa.PrimaryKeyConstraint("site_id", "period_start", "period_end", "camera_id", "line_id"),
)

# 天气: imported daily weather (local date of the site).
weather = sa.Table(
    "weather",
    metadata,
    _site_fk(),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("condition", sa.String(32), nullable=False),
    sa.Column("temp_high", sa.Float, nullable=True),
    sa.Column("temp_low", sa.Float, nullable=True),
    sa.Column("precipitation_mm", sa.Float, nullable=True),
    sa.PrimaryKeyConstraint("site_id", "day"),
)

# 过店客流: people passing outside the door, counted per hour on a pass-by line (hour: UTC start).
passby_counts = sa.Table(
    "passby_counts",
    metadata,
    _site_fk(),
    sa.Column("hour", UTCDateTime, nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "hour", "camera_id", "line_id"),
)

# A visit's stays in zones (驻留): dwell, zone conversion, first shop, floors, paths.
visit_zones = sa.Table(
    "visit_zones",
    metadata,
    sa.Column("site_id", sa.String(ID), nullable=False),
    sa.Column("visit_id", sa.String(ID), nullable=False),
    sa.Column("zone_id", sa.String(ID), nullable=False),
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Column("left_at", UTCDateTime, nullable=True),
    sa.PrimaryKeyConstraint("site_id", "visit_id", "zone_id", "entered_at"),
    sa.ForeignKeyConstraint(
        ["site_id", "visit_id"], ["visits.site_id", "visits.visit_id"], ondelete=_CASCADE
    ),
    sa.Index(None, "site_id", "entered_at"),
    sa.Index(None, "site_id", "zone_id", "entered_at"),
)

# --------------------------------------------------------------------------- analytics: rollups
# Derived from the tables above by keliu.store.rollups (never written by hand); additive counts, so a
# day is the sum of its hours and a month the sum of its days. See docs/metrics.md for each column.
ROLLUP_METRICS: tuple[str, ...] = (
    "entries",  # 总客流: customer entries within business hours
    "entries_outside_hours",  # customer entries outside business hours (not counted, A21)
    "visits",  # 去重客流: customer visits, at their first entry
    "new_visits",  # 新客
    "returning_visits",  # 回头客
    "returning_hf",  # 高频回头客: previous visit at most 3 days before
    "staff",  # 员工 visits
    "invalid",  # 无效客流 visits (outside_hours included)
    "outside_hours",  # invalid visits with reason outside_hours
    "batches",  # 批次 with a customer, at their start
    "received",  # 接待: customer visits that stayed >= reception_min_s or reached a reception zone
    "dwell_sum_s",  # 驻留: sum of customer stays (first entry to last exit), known exits only
    "dwell_count",
    "passby",  # 过店客流
    "ret_1_3",  # 活跃度: returning visits by days since the previous visit
    "ret_4_7",
    "ret_8_15",
    "ret_gt15",
    # migration 0006 (docs/metrics.md, "Exits and pass-by"):
    "exits",  # 离店: customer exits ('out' crossings of door lines by customer visits)
    "door_in",  # every 'in' crossing of a door line: staff and invalid visits too (the door's figure)
    "door_out",  # every 'out' crossing of a door line: staff, invalid and unlinked exits too
)
# metrics added after the rollup tables were created: a server default of 0 fills existing rows
LATER_METRICS = frozenset({"exits", "door_in", "door_out"})


def _metric_columns() -> list[sa.Column[object]]:
    return [
        sa.Column(
            name,
            sa.Float if name == "dwell_sum_s" else sa.Integer,
            nullable=False,
            server_default=sa.text("0") if name in LATER_METRICS else None,
        )
        for name in ROLLUP_METRICS
    ]


# hour: the UTC instant at which a local hour of the site starts (so every hour is in one local day)
traffic_hourly = sa.Table(
    "traffic_hourly",
    metadata,
    _site_fk(),
    sa.Column("hour", UTCDateTime, nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    *_metric_columns(),
    sa.PrimaryKeyConstraint("site_id", "hour", "camera_id", "line_id"),
    sa.Index(None, "hour"),
)

# day: the site's local date
traffic_daily = sa.Table(
    "traffic_daily",
    metadata,
    _site_fk(),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    *_metric_columns(),
    sa.PrimaryKeyConstraint("site_id", "day", "camera_id", "line_id"),
    sa.Index(None, "day"),
)

# month: the first local date of the month; all entrances together
traffic_monthly = sa.Table(
    "traffic_monthly",
    metadata,
    _site_fk(),
    sa.Column("month", sa.Date, nullable=False),
    *_metric_columns(),
    sa.PrimaryKeyConstraint("site_id", "month"),
    sa.Index(None, "month"),
)

# ------------------------------------------------------------------------------ accounts (service)
# The organisation (组织) this installation serves: one row (id 1).
organisation = sa.Table(
    "organisation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Users of the service. role: "admin" (every site, users, settings), "manager" (区域经理: their sites,
# site settings, staff, imports, exports) or "staff" (门店员工: their sites, dashboards, reception).
# password_hash: argon2id (argon2-cffi). Sites of managers and staff are in user_sites.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("must_change_password", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

user_sites = sa.Table(
    "user_sites",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete=_CASCADE), nullable=False),
    _site_fk(),
    sa.PrimaryKeyConstraint("user_id", "site_id"),
)

# Browser sessions: the cookie carries a random token, only its SHA-256 is stored (revocable).
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete=_CASCADE), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# API tokens for machines (DMS, BI): shown once, only the SHA-256 is stored.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete=_CASCADE), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

# 审计日志: every change, login (failed ones too) and export; details never hold passwords or tokens.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("username", sa.String(64), nullable=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("site_id", sa.String(ID), nullable=True),
    sa.Column("target", sa.String(500), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Index(None, "at"),
)

# ------------------------------------------------------------------- webhooks (migration 0005)
# A receiver of pushed events (Webhooks, 推送): site_id NULL = every site. secret: the signing secret,
# sealed with the store's key (keliu.store.crypto, SignatureCipher.seal_secret) since delivery must
# read it back to sign. event_types: JSON list of keliu.service.webhooks.EVENT_TYPES.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    _site_fk(nullable=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("event_types", sa.JSON, nullable=False),
    sa.Column("description", sa.String(200), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "site_id"),
)

# The persistent outbox: one row per event and webhook, written before anything is sent, so a restart
# never loses an undelivered webhook. event_id (a UUID, the same for every webhook of one event) lets
# receivers de-duplicate. payload: the JSON body, sent byte-identical on every attempt. Pending:
# delivered_at and dead_at NULL; dead_at: given up after the maximum age (dead letter, still listed).
webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column(
        "webhook_id", sa.String(32), sa.ForeignKey("webhooks.id", ondelete=_CASCADE), nullable=False
    ),
    sa.Column("event_type", sa.String(32), nullable=False),
    _site_fk(nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("dead_at", UTCDateTime, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.PrimaryKeyConstraint("event_id", "webhook_id"),
    sa.Index(None, "next_attempt_at"),
    sa.Index(None, "webhook_id", "created_at"),
    sa.Index(None, "delivered_at"),
)

# --------------------------------------------------------------- exits and pass-by (migration 0006)

# 离店 exits: one row per 'out' crossing of a door line (docs/metrics.md, "Exits and pass-by"); the
# crossing is named by camera, line, time and the track that made it, so saving it again changes
# nothing. visit_id: the visit it ends (the visit the resolver put the sighting in, when the exit is at
# or after its first entry), or NULL when no visit claimed it; no foreign key (a deleted visit leaves
# its exits unlinked, still counted at their door).
exits = sa.Table(
    "exits",
    metadata,
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("track_id", sa.BigInteger, nullable=False),
    sa.Column("visit_id", sa.String(ID), nullable=True),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "line_id", "at", "track_id"),
    sa.Index(None, "site_id", "at"),
    sa.Index(None, "site_id", "visit_id"),
)

# 过店 crossings of pass-by lines (kind: passby in the site config), both directions, one row each;
# passby_counts of a video-counted line is recounted from these per local hour.
passby_crossings = sa.Table(
    "passby_crossings",
    metadata,
    _site_fk(),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("line_id", sa.String(ID), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("track_id", sa.BigInteger, nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id", "line_id", "at", "track_id"),
    sa.Index(None, "site_id", "at"),
)

# ------------------------------------------------------------------ reception and staff suggestions
# 接待: the reception desk's classification of an arrival batch (批次) — 看车 browsing, 订单 order,
# 售后 after-sales, 非客 not a customer, 店员 staff — and the sales advisor (销售顾问) assigned to it.
receptions = sa.Table(
    "receptions",
    metadata,
    _site_fk(),
    sa.Column("batch_id", sa.String(ID), nullable=False),
    sa.Column("category", sa.String(16), nullable=True),
    sa.Column("advisor", sa.String(200), nullable=True),
    sa.Column("note", sa.String(1000), nullable=True),
    sa.Column("updated_by", sa.String(64), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "batch_id"),
)

# 员工建议: people who looked like staff on a day (present most of the business hours, or in a staff
# zone), waiting for a manager to confirm (enrol from the signature kept here, encrypted) or dismiss.
staff_suggestions = sa.Table(
    "staff_suggestions",
    metadata,
    _site_fk(),
    sa.Column("person_key", sa.String(ID), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("present_s", sa.Float, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("visit_ids", sa.JSON, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending, confirmed, dismissed
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "person_key", "day"),
)

# ------------------------------------------------------------------- devices managed through the API
# 设备: a camera added through the API (``keliu.store.devices``), its whole configuration as JSON
# (``config``: the CameraConfig without its source — lines with their kinds, zones, rates, detector,
# tracker and counting settings) and its source, sealed with the store key like a webhook secret (an
# rtsp:// URL may hold the camera's user name and password). The cameras, lines and zones rows of the
# camera are written in the same transaction; deleting the camera deletes this row.
devices = sa.Table(
    "devices",
    metadata,
    sa.Column("site_id", sa.String(ID), nullable=False),
    sa.Column("camera_id", sa.String(ID), nullable=False),
    sa.Column("source", sa.LargeBinary, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "camera_id"),
    sa.ForeignKeyConstraint(
        ["site_id", "camera_id"], ["cameras.site_id", "cameras.camera_id"], ondelete=_CASCADE
    ),
)

# ------------------------------------------------------------- manual corrections (migration 0009)
# 人工干预过滤: a manager's correction of who a visit was — ``category`` staff | courier |
# not_customer | customer — with the reason they gave. Applied to the visit row at once and again
# every time the resolution saves the visit (so it survives re-resolution); ``original_*`` keep what
# the resolution itself decided last (updated on every such save), which undoing the correction
# restores. No foreign key to visits: a visit deleted and resolved again keeps its correction.
visit_corrections = sa.Table(
    "visit_corrections",
    metadata,
    _site_fk(),
    sa.Column("visit_id", sa.String(ID), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("corrected_by", sa.String(64), nullable=True),
    sa.Column("corrected_at", UTCDateTime, nullable=False),
    sa.Column("original_category", sa.String(16), nullable=False),
    sa.Column("original_exclusion_category", sa.String(16), nullable=True),
    sa.Column("original_exclusion_reason", sa.String(200), nullable=True),
    sa.Column("original_exclusion_confidence", sa.Float, nullable=True),
    sa.Column("original_batch_id", sa.String(ID), nullable=True),
    sa.PrimaryKeyConstraint("site_id", "visit_id"),
)

# ----------------------------------------------------------- batch merges and splits (migration 0010)
# 批次 合并/拆分: the reception desk put a visit into a batch by hand (merging batches, or splitting
# one). ``batch_id`` is the batch the visit belongs to now, whatever the resolution says; it is applied
# to the visit row at once and again every time the resolution saves the visit (so it survives
# re-resolution), before any manual correction. ``original_batch_id`` is the batch the resolution
# itself gave the visit last (updated on every such save): a visit the resolution adds later to such a
# batch follows where all of its assigned visits went. No foreign key to visits, like
# ``visit_corrections``.
batch_assignments = sa.Table(
    "batch_assignments",
    metadata,
    _site_fk(),
    sa.Column("visit_id", sa.String(ID), nullable=False),
    sa.Column("batch_id", sa.String(ID), nullable=False),
    sa.Column("original_batch_id", sa.String(ID), nullable=True),
    sa.Column("assigned_by", sa.String(64), nullable=True),
    sa.Column("assigned_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "visit_id"),
    sa.Index(None, "site_id", "original_batch_id"),
)

# -------------------------------------------------------------- message rules (migration 0011)
# 消息规则: a site's threshold rules (``keliu.store.messages``). kind: occupancy (customers present
# now above ``threshold``), hourly_entries (entries of the current local hour above ``threshold``)
# or traffic_change (today so far against the same elapsed part of the previous day, week or month
# — ``compare`` — moved by more than ``threshold`` per cent in ``direction``, once the previous
# period counted ``min_count``). ``last_period`` is the local period (hour or day) the rule last
# fired in: a rule fires at most once per period.
message_rules = sa.Table(
    "message_rules",
    metadata,
    _site_fk(),
    sa.Column("rule_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("compare", sa.String(8), nullable=True),
    sa.Column("direction", sa.String(8), nullable=True),
    sa.Column("min_count", sa.Integer, nullable=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_period", sa.String(32), nullable=True),
    sa.Column("last_fired_at", UTCDateTime, nullable=True),
    sa.PrimaryKeyConstraint("site_id", "rule_id"),
)

# 消息: what the rules fired (metadata only: figures, never a person). rule_id has no foreign key: a
# message outlives the rule that fired it. details: the figures (value, threshold, period …).
messages = sa.Table(
    "messages",
    metadata,
    _site_fk(),
    sa.Column("message_id", sa.String(36), nullable=False),
    sa.Column("rule_id", sa.String(32), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("text", sa.String(1000), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.PrimaryKeyConstraint("site_id", "message_id"),
    sa.Index(None, "site_id", "at"),
    sa.Index(None, "at"),
)
