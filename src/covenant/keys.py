"""The service's keys: one secret from the environment, one derived key per use.

``COVENANT_SECRET_KEY`` is the only secret a deployment sets. Every use gets
its own key derived from it with HKDF-SHA-256 (RFC 5869) under a distinct
``info`` label, so a key that leaks from one use (say, a signed download link)
says nothing about another (the encryption of stored identities), and the
same secret can never make a token of one kind pass as another.

:class:`Sealer` encrypts what Covenant keeps for people -- identities a
request was made with, exports, queued mail -- with Fernet (AES-128-CBC with
HMAC-SHA-256, from ``cryptography``), so a copy of the database or of the
delivery folder alone reveals nothing.

Without a secret, :func:`load_secret` refuses to start, except in local
development, where it keeps a random one in a file readable only by its owner
beside Covenant's own database: sealed data must outlive a restart.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from covenant.errors import CovenantError

MIN_SECRET_BYTES = 32
KEY_FILE = "covenant-secret.key"

USES = frozenset(
    {
        "seal",
        "email-proof",
        "delivery-link",
        "status-link",
        "subject-ref",
        "session",
        "csrf",
        "account-token",
    }
)
"""Every label a key is derived for; a typo is an error, not a new key."""


class SecretMissing(CovenantError):
    """The service's secret key is missing or too short."""

    exit_code = 2


class SealBroken(CovenantError):
    """Sealed data could not be opened: it was altered, or sealed under another key."""

    status = 500


class Keys:
    """The keys derived from one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise SecretMissing(
                f"COVENANT_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes; "
                'make one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        self._secret = secret

    def __repr__(self) -> str:
        return "Keys(<secret>)"

    def derive(self, use: str) -> bytes:
        """A 32-byte key for ``use`` only."""
        if use not in USES:
            raise ValueError(f"unknown key use {use!r}")
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"covenant:" + use.encode()
        )
        return hkdf.derive(self._secret)

    def sealer(self) -> Sealer:
        return Sealer(self.derive("seal"))


class Sealer:
    """Authenticated encryption of what Covenant keeps for people."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def __repr__(self) -> str:
        return "Sealer(<key>)"

    def seal(self, data: bytes | str) -> str:
        raw = data.encode() if isinstance(data, str) else data
        return self._fernet.encrypt(raw).decode("ascii")

    def open(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            raise SealBroken() from None

    def open_text(self, token: str) -> str:
        return self.open(token).decode()


def load_secret(configured: str | None, *, folder: Path, development: bool) -> Keys:
    """The service's keys: from the configured secret, or in development from a key file.

    The key file is created with mode 0600 the first time and reused after, so
    what was sealed before a restart opens after it.
    """
    if configured:
        return Keys(configured.encode())
    if not development:
        raise SecretMissing(
            "COVENANT_SECRET_KEY is not set. It encrypts stored identities and exports and "
            "signs links; set it (at least 32 bytes) from your secret store"
        )
    return Keys(development_secret(folder).encode())


def development_secret(folder: Path) -> str:
    """The secret kept in ``folder`` for local development, made on first use (mode 0600)."""
    path = folder / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
