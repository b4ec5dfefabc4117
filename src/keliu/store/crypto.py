"""Signatures at rest: a compact binary form, encrypted with AES-256-GCM.

Format of one stored blob::

    version (1 byte, 0x01) | nonce (12 random bytes) | AES-GCM ciphertext + 16-byte tag

The plaintext packs one or more signatures (``pack_signatures``): a count, then per signature a small
header (vector lengths, shots, colour names as indices) followed by the two float32 little-endian
vectors. ``gender``/``age`` are always "unknown" and are not stored.

The *associated data* names the row a blob belongs to (kind, site, row key), so a blob copied into
another row, another site or another table fails authentication instead of decrypting as someone else.

The same key seals the few other secrets the store must read back (webhook signing secrets:
``seal_secret``/``open_secret``, same format, their own associated-data prefix).

The key (32 bytes) comes from, in this order:

- ``$KELIU_SIGNATURE_KEY``: the key itself, base64 (e.g. from a secrets manager);
- ``$KELIU_SIGNATURE_KEY_FILE``: a file holding the base64 key, outside the data directory in
  production (docs/setup.md "Where the signature key lives"); it must exist: keliu never creates it,
  so an unmounted secret or a typo is an error instead of a fresh key that cannot read old rows;
- ``KELIU_HOME/signature.key`` (base64 text), created with mode 0600 on first use: convenient, but a
  copy of the whole data directory then carries the key with the database.

Setting both variables is refused (which one would win is not obvious). A key file readable by group
or others is refused. Losing the key makes stored signatures unreadable; that only costs
de-duplication and returning-visitor memory until new ones are seen (and re-enrolment of staff and
exemplars).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keliu.domain.visits import COLOUR_NAMES, ColourName, Signature
from keliu.paths import SIGNATURE_KEY_FILE_ENV, SIGNATURE_KEY_FILE_NAME, signature_key_file
from keliu.store.errors import SignatureKeyError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "KEY_FILE_NAME",
    "SignatureCipher",
    "generate_key",
    "load_signature_key",
    "pack_signatures",
    "unpack_signatures",
]

KEY_ENV = "KELIU_SIGNATURE_KEY"
KEY_FILE_ENV = SIGNATURE_KEY_FILE_ENV  # "KELIU_SIGNATURE_KEY_FILE"
KEY_FILE_NAME = SIGNATURE_KEY_FILE_NAME  # "signature.key"
MAKE_KEY_HINT = "(umask 077; head -c 32 /dev/urandom | base64 > {path})"
KEY_BYTES = 32
NONCE_BYTES = 12
_VERSION = 1
_COUNT = struct.Struct("<H")
_HEADER = struct.Struct("<IIIBB")  # embedding length, colour length, shots, upper colour, lower colour
_NO_COLOUR = 255
_AAD_PREFIX = b"keliu/signature/v1"
_SECRET_AAD_PREFIX = b"keliu/secret/v1"  # other secrets sealed with the same key (webhook secrets)


# ---------------------------------------------------------------------------------------- packing


def _colour_index(colour: ColourName | None) -> int:
    return _NO_COLOUR if colour is None else COLOUR_NAMES.index(colour)


def _colour_name(index: int) -> ColourName | None:
    if index == _NO_COLOUR:
        return None
    if index >= len(COLOUR_NAMES):
        raise ValueError(f"colour index {index} out of range")
    return COLOUR_NAMES[index]


def pack_signatures(signatures: Sequence[Signature]) -> bytes:
    """Serialise signatures compactly (float32 vectors, colour names as indices); not encrypted."""
    if len(signatures) > 0xFFFF:
        raise ValueError("too many signatures in one blob")
    parts = [_COUNT.pack(len(signatures))]
    for sig in signatures:
        embedding = np.ascontiguousarray(sig.embedding, dtype="<f4").ravel()
        colour = np.ascontiguousarray(sig.colour, dtype="<f4").ravel()
        parts.append(
            _HEADER.pack(
                embedding.size,
                colour.size,
                max(0, min(int(sig.shots), 0xFFFFFFFF)),
                _colour_index(sig.upper_colour),
                _colour_index(sig.lower_colour),
            )
        )
        parts.append(embedding.tobytes())
        parts.append(colour.tobytes())
    return b"".join(parts)


def unpack_signatures(data: bytes) -> tuple[Signature, ...]:
    """The inverse of :func:`pack_signatures` (vectors come back as native float32 arrays)."""
    (count,) = _COUNT.unpack_from(data, 0)
    offset = _COUNT.size
    out: list[Signature] = []
    for _ in range(count):
        n_embedding, n_colour, shots, upper, lower = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        embedding = np.frombuffer(data, dtype="<f4", count=n_embedding, offset=offset).astype(np.float32)
        offset += 4 * n_embedding
        colour = np.frombuffer(data, dtype="<f4", count=n_colour, offset=offset).astype(np.float32)
        offset += 4 * n_colour
        out.append(
            Signature(
                embedding=embedding,
                colour=colour,
                upper_colour=_colour_name(upper),
                lower_colour=_colour_name(lower),
                shots=shots,
            )
        )
    if offset != len(data):
        raise ValueError("trailing bytes after the packed signatures")
    return tuple(out)


# -------------------------------------------------------------------------------------------- key


def generate_key() -> bytes:
    """A fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SignatureKeyError(f"{where} must hold the base64 encoding of exactly {KEY_BYTES} bytes")
    return key


def _check_private(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SignatureKeyError(
            f"the signature key file {path} is readable by group or others (mode {mode:04o}); "
            f"restrict it with: chmod 600 {path}"
        )


def load_signature_key(home: Path | None = None) -> bytes:
    """The signature key: ``$KELIU_SIGNATURE_KEY`` (base64 of 32 bytes) if set, else the file named by
    ``$KELIU_SIGNATURE_KEY_FILE`` (must exist), else ``KELIU_HOME/signature.key`` (or ``home``'s),
    created (mode 0600, base64 text) with a random key if it is missing.

    Raises :class:`SignatureKeyError` for a malformed key, a missing configured key file, both
    variables set, or a key file readable by group or others.
    """
    configured = os.environ.get(KEY_ENV)
    if configured and os.environ.get(KEY_FILE_ENV):
        raise SignatureKeyError(
            f"both ${KEY_ENV} and ${KEY_FILE_ENV} are set; set only one (the key, or the file that holds it)"
        )
    if configured:
        return _decode_key(configured, f"${KEY_ENV}")
    if home is not None:
        path, from_env = home / KEY_FILE_NAME, False
    else:
        path, from_env = signature_key_file()
    if from_env:
        return _read_configured_key_file(path)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(base64.b64encode(generate_key()).decode("ascii") + "\n")
        _check_private(path)
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        text = ""
    except OSError as exc:
        raise SignatureKeyError(
            f"cannot read or create the signature key file {path}: {exc.strerror}"
        ) from None
    return _decode_key(text, f"the signature key file {path}")


def _read_configured_key_file(path: Path) -> bytes:
    """The key in the file ``$KELIU_SIGNATURE_KEY_FILE`` names; never created here."""
    where = f"the signature key file {path} (${KEY_FILE_ENV})"
    if not path.exists():
        raise SignatureKeyError(
            f"{where} does not exist; create one with: {MAKE_KEY_HINT.format(path=path)} "
            "(or unset the variable to use KELIU_HOME/signature.key)"
        )
    if not path.is_file():
        raise SignatureKeyError(f"{where} is not a file")
    try:
        _check_private(path)
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        text = ""
    except OSError as exc:
        raise SignatureKeyError(f"cannot read {where}: {exc.strerror}") from None
    return _decode_key(text, where)


# ----------------------------------------------------------------------------------------- cipher


def _associated_data(kind: str, site_id: str, row: str, prefix: bytes = _AAD_PREFIX) -> bytes:
    parts = (kind, site_id, row)
    return b"\x00".join([prefix, *(p.encode("utf-8") for p in parts)])


class SignatureCipher:
    """Encrypts and decrypts signature blobs bound to their row.

    ``key`` given: use it (32 bytes). Otherwise the key is loaded (or the key file created) on first
    use by :func:`load_signature_key`, so a store that never touches signatures never needs a key.
    """

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) != KEY_BYTES:
            raise SignatureKeyError(f"a signature key must be exactly {KEY_BYTES} bytes")
        self._aead: AESGCM | None = None if key is None else AESGCM(key)

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(load_signature_key())
        return self._aead

    def seal(self, signatures: Sequence[Signature], *, kind: str, site_id: str, row: str) -> bytes:
        """Pack and encrypt ``signatures`` for the row (``kind``, ``site_id``, ``row``)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher().encrypt(
            nonce, pack_signatures(signatures), _associated_data(kind, site_id, row)
        )
        return bytes([_VERSION]) + nonce + sealed

    def seal_secret(self, secret: bytes, *, kind: str, site_id: str, row: str) -> bytes:
        """Encrypt another secret the store must be able to read back (a webhook's signing secret),
        bound to its row like a signature blob (same format, its own associated-data prefix)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher().encrypt(
            nonce, secret, _associated_data(kind, site_id, row, _SECRET_AAD_PREFIX)
        )
        return bytes([_VERSION]) + nonce + sealed

    def open_secret(self, blob: bytes, *, kind: str, site_id: str, row: str) -> bytes:
        """Decrypt a blob sealed by :meth:`seal_secret` for the same row; :class:`SignatureKeyError`
        if it fails."""
        blob = bytes(blob)
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != _VERSION:
            raise SignatureKeyError(f"a stored {kind} of site {site_id!r} is malformed")
        try:
            return self._cipher().decrypt(
                blob[1 : 1 + NONCE_BYTES],
                blob[1 + NONCE_BYTES :],
                _associated_data(kind, site_id, row, _SECRET_AAD_PREFIX),
            )
        except InvalidTag:
            raise SignatureKeyError(
                f"cannot decrypt a stored {kind} of site {site_id!r}: the signature key "
                f"(${KEY_ENV}, ${KEY_FILE_ENV} or KELIU_HOME/{KEY_FILE_NAME}) is not the one it was "
                "written with, or the data was altered"
            ) from None

    def open(self, blob: bytes, *, kind: str, site_id: str, row: str) -> tuple[Signature, ...]:
        """Decrypt and unpack a blob sealed for the same row; :class:`SignatureKeyError` if it fails."""
        blob = bytes(blob)
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != _VERSION:
            raise SignatureKeyError(f"a stored {kind} signature blob of site {site_id!r} is malformed")
        try:
            plain = self._cipher().decrypt(
                blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], _associated_data(kind, site_id, row)
            )
        except InvalidTag:
            raise SignatureKeyError(
                f"cannot decrypt a stored {kind} signature of site {site_id!r}: the signature key "
                f"(${KEY_ENV}, ${KEY_FILE_ENV} or KELIU_HOME/{KEY_FILE_NAME}) is not the one it was "
                "written with, or the data was altered"
            ) from None
        try:
            return unpack_signatures(plain)
        except (ValueError, struct.error) as exc:
            raise SignatureKeyError(
                f"a stored {kind} signature of site {site_id!r} is corrupt: {exc}"
            ) from None
