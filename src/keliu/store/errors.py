"""Errors of the store; all are :class:`keliu.errors.KeliuError`, so the CLI shows one clear line.

    KeliuError
    └── StoreError              the database URL is wrong, or the schema cannot be brought up to date
        ├── StoreUnavailable    the database cannot be reached or opened right now (retry may help)
        └── SignatureKeyError   the signature key is missing, malformed, exposed, or not the one used

An unknown site is an :class:`keliu.errors.InputError` (the caller asked for something that is not there).
"""

from __future__ import annotations

from keliu.errors import KeliuError

__all__ = ["SignatureKeyError", "StoreError", "StoreUnavailable"]


class StoreError(KeliuError):
    """The store cannot be used as asked (bad URL, unsupported database, schema newer than this keliu)."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened (server down, wrong host/port, unwritable file)."""

    code = "store_unavailable"


class SignatureKeyError(StoreError):
    """The key that encrypts signatures at rest is invalid, readable by others, or does not decrypt."""

    code = "signature_key_error"
