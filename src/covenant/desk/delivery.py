"""Packages kept for people: encrypted at rest, fetched by an expiring link, then deleted.

Each package is encrypted under its own random key with AES-256-GCM in the
STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015, §7):
the file is cut into 64 KiB segments, each sealed with a nonce made of a
random per-file prefix, the segment's number and a flag marking the last
segment. A segment cannot be reordered, dropped or truncated without the
decryption failing, and neither writing nor reading ever holds more than one
segment in memory, so a large export streams.

The file key is sealed with the service key and kept in the database row, not
beside the file: a copy of the delivery folder alone is unreadable, and
deleting the row shreds the file even if a copy of it survives.

The download token is random, mailed only to the verified requester, stored
as a keyed hash, and refused after expiry; the file is deleted at expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from covenant.errors import CovenantError

MAGIC = b"CVNTPKG1"
SEGMENT = 64 * 1024
_PREFIX = 7
_LEN = struct.Struct(">I")


class PackageDamaged(CovenantError):
    """The stored package failed its integrity check and was not sent."""

    status = 500


def encrypt_file(source: Path, target: Path, key: bytes) -> int:
    """Encrypt ``source`` into ``target``; the number of bytes written."""
    aead = AESGCM(key)
    prefix = secrets.token_bytes(_PREFIX)
    written = 0
    tmp = target.with_suffix(".part")
    with source.open("rb") as src, tmp.open("wb") as out:
        out.write(MAGIC + prefix)
        written += len(MAGIC) + _PREFIX
        chunk = src.read(SEGMENT)
        counter = 0
        while True:
            following = src.read(SEGMENT)
            last = not following
            sealed = aead.encrypt(_nonce(prefix, counter, last=last), chunk, None)
            out.write(_LEN.pack(len(sealed)) + sealed)
            written += _LEN.size + len(sealed)
            if last:
                break
            chunk, counter = following, counter + 1
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    return written


def decrypt_stream(path: Path, key: bytes) -> Iterator[bytes]:
    """The plaintext of ``path``, a segment at a time; raises :class:`PackageDamaged`."""
    aead = AESGCM(key)
    with path.open("rb") as src:
        head = src.read(len(MAGIC) + _PREFIX)
        if not head.startswith(MAGIC) or len(head) != len(MAGIC) + _PREFIX:
            raise PackageDamaged()
        prefix = head[len(MAGIC) :]
        counter = 0
        while True:
            raw = src.read(_LEN.size)
            if len(raw) != _LEN.size:
                raise PackageDamaged()  # truncated before the last segment
            (size,) = _LEN.unpack(raw)
            if size > SEGMENT + 16:
                raise PackageDamaged()
            sealed = src.read(size)
            last = src.peek(1) == b""
            try:
                yield aead.decrypt(_nonce(prefix, counter, last=last), sealed, None)
            except InvalidTag:
                raise PackageDamaged() from None
            if last:
                return
            counter += 1


def _nonce(prefix: bytes, counter: int, *, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def new_file_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def token_hash(token: str, key: bytes) -> str:
    return hmac.new(key, b"covenant.delivery.v1\x00" + token.encode(), hashlib.sha256).hexdigest()


def same_token(token: str, stored: str, key: bytes) -> bool:
    if len(token) > 128:
        token = ""
    return hmac.compare_digest(token_hash(token, key), stored)
