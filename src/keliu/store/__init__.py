"""Persistence (SQLAlchemy 2 + Alembic): SQLite embedded by default, PostgreSQL for a central server.

    from keliu.store import open_store
    store = open_store()                       # KELIU_HOME/keliu.db (SQLite, WAL)
    store = open_store("postgresql://keliu@db/keliu")

The store returns domain types (``keliu.domain``); signatures are encrypted at rest
(``keliu.store.crypto``) and purged when their purpose has passed (``Store.purge_expired``).
May import only ``keliu.domain``, ``keliu.store``, ``keliu.errors`` and ``keliu.paths``.
"""

from __future__ import annotations

from keliu.store.crypto import SignatureCipher
from keliu.store.engine import create_store_engine, upgrade
from keliu.store.errors import SignatureKeyError, StoreError, StoreUnavailable
from keliu.store.footage import Footage, StoreBusy, file_fingerprint
from keliu.store.reference import (
    Area,
    Entrance,
    ManualCount,
    OpeningHours,
    PassbyCount,
    SiteProfile,
    Target,
    WeatherDay,
    ZoneStay,
)
from keliu.store.repository import CameraRecord, SiteRecord, Store
from keliu.store.summary import SummaryRow

__all__ = [
    "Area",
    "CameraRecord",
    "Entrance",
    "Footage",
    "ManualCount",
    "OpeningHours",
    "PassbyCount",
    "SignatureCipher",
    "SignatureKeyError",
    "SiteProfile",
    "SiteRecord",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "SummaryRow",
    "Target",
    "WeatherDay",
    "ZoneStay",
    "file_fingerprint",
    "open_store",
]


def open_store(url: str | None = None, *, key: bytes | None = None) -> Store:
    """Open (and migrate to the newest schema) the store at ``url``.

    ``url``: ``None`` for the embedded SQLite file ``KELIU_HOME/keliu.db``; ``sqlite:///PATH``; or
    ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (psycopg 3). ``key``: the 32-byte signature
    key; by default ``$KELIU_SIGNATURE_KEY``, ``$KELIU_SIGNATURE_KEY_FILE`` or ``KELIU_HOME/signature.key``
    (keliu.store.crypto), read on first use.

    Raises :class:`StoreError` for a bad or unsupported URL or a schema that cannot be migrated, and
    :class:`StoreUnavailable` when the database cannot be reached; both carry one clear sentence.
    """
    cipher = SignatureCipher(key)
    engine = create_store_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, cipher)
