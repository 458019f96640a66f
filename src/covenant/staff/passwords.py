"""Staff passwords: the rules a new one must meet, and argon2id hashing.

Hashing follows RFC 9106 §4, the second recommended option, for machines
where 2 GiB per hash is too much: Argon2id with t=3 passes, p=4 lanes,
m=64 MiB, a 128-bit salt and a 256-bit tag (argon2-cffi's
``profiles.RFC_9106_LOW_MEMORY``). That is stronger than OWASP's Password
Storage Cheat Sheet minimum (m=19 MiB, t=2, p=1) and costs about 0.2 s on one
core. A stored hash made with other parameters is replaced at the next
successful sign-in (:meth:`Passwords.needs_rehash`).

Rules for a new password (NIST SP 800-63B §5.1.1.2 and OWASP's
Authentication Cheat Sheet): at least 12 characters, at most 1024 (longer is
refused before hashing, so nobody can make the server hash megabytes), any
Unicode, counted in code points after NFKC normalization, which is also the
form that is hashed (so the same password typed on another keyboard layout
still matches). No composition rules. The username is refused as the
password.

The rule checks are pure; hashing does no I/O but takes CPU and memory, so
the web layer runs it off the event loop.
"""

from __future__ import annotations

import secrets
import threading
import unicodedata

from argon2 import Parameters, PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from covenant.errors import CovenantError

MIN_CHARS = 12
MAX_CHARS = 1024
PARAMETERS = profiles.RFC_9106_LOW_MEMORY


class PasswordRefused(CovenantError):
    """The password does not meet the rules: 12 to 1024 characters, not the username."""

    exit_code = 2
    status = 400


def problem(password: str, *, username: str) -> str | None:
    """Why ``password`` may not be set for ``username`` (its stored form), or None."""
    if len(password) > MAX_CHARS:
        return f"The password is longer than {MAX_CHARS} characters."
    normal = unicodedata.normalize("NFKC", password)
    if len(normal) < MIN_CHARS:
        return f"The password must be at least {MIN_CHARS} characters."
    if len(normal) > MAX_CHARS:
        return f"The password is longer than {MAX_CHARS} characters."
    if normal.casefold() == username.casefold():
        return "The password must not be the username."
    return None


class Passwords:
    """argon2id hashing with one set of parameters (RFC 9106 §4 by default)."""

    def __init__(self, parameters: Parameters = PARAMETERS) -> None:
        if parameters.type is not Type.ID:
            raise ValueError("staff passwords are hashed with argon2id only")
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        p = self._hasher
        return f"Passwords(argon2id t={p.time_cost} m={p.memory_cost} KiB p={p.parallelism})"

    def hash(self, password: str, *, username: str) -> str:
        """The argon2id hash of an acceptable new password; raises :class:`PasswordRefused`."""
        reason = problem(password, username=username)
        if reason is not None:
            raise PasswordRefused(reason)
        return self._hasher.hash(unicodedata.normalize("NFKC", password))

    def rehash(self, password: str) -> str:
        """A hash of a password that just verified, with today's parameters.

        No rule check: it was accepted when set, and a sign-in is no time to
        refuse it.
        """
        return self._hasher.hash(unicodedata.normalize("NFKC", password))

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``, taking about as long either way.

        An over-long password is wrong without being hashed; a dummy hash is
        checked instead so the answer takes as long as any other.
        """
        if len(password) > MAX_CHARS:
            self.burn()
            return False
        try:
            return self._hasher.verify(stored, unicodedata.normalize("NFKC", password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def burn(self) -> None:
        """Spend what one verification costs, for an account that does not exist.

        Without it an unknown username would be answered in microseconds and
        a wrong password in a fifth of a second: a timing oracle that lists
        the accounts (OWASP Authentication Cheat Sheet, "Authentication and
        Error Messages").
        """
        self.verify(self._dummy_hash(), "not the password of any account")

    def _dummy_hash(self) -> str:
        with self._lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(24))
            return self._dummy
