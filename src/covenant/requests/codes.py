"""E-mail proof: the one-time codes and links that show a requester reads a mailbox.

Owns making a code or link secret, the :class:`Challenge` that is stored in
its place, and :func:`check`, which decides one attempt and returns the
challenge as it must be stored afterwards. Pure: the moment ``now``, the server
key and the source of randomness are all parameters, so this module never
reads the clock, a file, the environment or a database, and never sends mail.

It must never keep or return the secret after :func:`issue_code` or
:func:`issue_link` hand it over for the mail, and it never learns whose address
the mail goes to. Whether an address belongs to a customer is the caller's
secret to keep: it issues a challenge the same way for every address, and
:func:`check` gives the same shape of answer for every challenge.

Why a keyed hash (HMAC-SHA-256) and not argon2
-----------------------------------------------
An 8-digit code has only 10**8 values, about 27 bits. Stored under a plain or
salted SHA-256, a leaked row gives the code back in well under a second of
guessing; even argon2 at 50 ms a guess only makes that some core-days, which a
rented cluster finishes while the code is still live. The real protection is a
secret the database does not hold: with HMAC under a server key kept outside
the database (an environment variable or a secret store), a leaked row alone
admits **no** offline guessing at all, because each guess needs the key. The
only remaining attack is online, and there the attempt limit (5) and the
expiry (30 minutes) cap an attacker at 5 guesses in 10**8. HMAC also costs
microseconds and no memory, where argon2 would hand an unauthenticated public
endpoint a way to make the server burn 64 MiB and tens of milliseconds per
request. If the key leaks with the database the codes fall quickly, but they
die within 30 minutes anyway; rotate the key after such a leak.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

CODE_DIGITS = 8
DEFAULT_TTL = dt.timedelta(minutes=30)
DEFAULT_ATTEMPTS = 5
LINK_TOKEN_BYTES = 32
"""256 bits: a link cannot be guessed, so only its expiry and single use matter."""
MIN_KEY_BYTES = 32
MAX_SUBMITTED_CHARS = 256
"""Longer input is wrong without being hashed: no code or link token is that long."""

_DOMAIN = b"covenant.email-proof.v1\x00"
# The prefix keeps these digests apart from every other HMAC made with the
# same key (account tokens, delivery links), should a deployment reuse a key.

_CODE_LIKE = re.compile(r"[\d\s-]+")


class Outcome(enum.StrEnum):
    """What one attempt at a challenge came to."""

    PASSED = "passed"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    """No attempts left: too many wrong answers, or the code was already used."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """What is stored in place of a code or link: never the secret itself."""

    hash: str
    """HMAC-SHA-256 of the normalized secret under the server key, in hex."""
    expires_at: dt.datetime
    attempts_left: int

    def usable(self, now: dt.datetime) -> bool:
        """Whether an attempt could still pass: not expired, not spent."""
        return self.attempts_left > 0 and _aware(now) < self.expires_at


def normalize(submitted: str) -> str:
    """The form in which a secret is hashed, at issue and at every attempt.

    People retype codes with spaces or dashes between groups ("1234 5678",
    "1234-5678"), and mail clients wrap or pad links. Whitespace is always
    dropped; dashes only when everything else is digits, because ``-`` is part
    of the URL-safe alphabet of link tokens.
    """
    if _CODE_LIKE.fullmatch(submitted):
        return re.sub(r"[\s-]", "", submitted)
    return re.sub(r"\s", "", submitted)


def digest(secret: str, key: bytes) -> str:
    """The keyed hash under which a code or link token is stored."""
    _check_key(key)
    message = _DOMAIN + normalize(secret).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A fresh 8-digit code, leading zeros kept. ``randbelow`` must be a CSPRNG."""
    return f"{randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_link_token(token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh URL-safe token for a one-click link. ``token_bytes`` must be a CSPRNG."""
    raw = token_bytes(LINK_TOKEN_BYTES)
    if len(raw) != LINK_TOKEN_BYTES:
        raise ValueError(f"the randomness source must give {LINK_TOKEN_BYTES} bytes")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def issue_code(
    now: dt.datetime,
    key: bytes,
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> tuple[str, Challenge]:
    """Make a code to mail and the challenge to store; the code is not kept."""
    return _issue(new_code(randbelow), now, key, ttl, attempts)


def issue_link(
    now: dt.datetime,
    key: bytes,
    *,
    ttl: dt.timedelta = DEFAULT_TTL,
    attempts: int = DEFAULT_ATTEMPTS,
    token_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> tuple[str, Challenge]:
    """Make a link token to mail and the challenge to store; the token is not kept."""
    return _issue(new_link_token(token_bytes), now, key, ttl, attempts)


def check(
    challenge: Challenge, submitted: str, now: dt.datetime, key: bytes
) -> tuple[Outcome, Challenge]:
    """Decide one attempt; return the outcome and the challenge to store in its place.

    A wrong answer costs one attempt. A right one spends the challenge (no
    attempts left), so the same code or link is refused if replayed. The hash
    is computed and compared on every path, passed or not, so the work done
    does not depend on the state of the challenge; the comparison is
    :func:`hmac.compare_digest`, whose time does not depend on where the
    inputs differ.
    """
    now = _aware(now)
    if len(submitted) > MAX_SUBMITTED_CHARS:
        submitted = ""
    candidate = digest(submitted, key)
    equal = hmac.compare_digest(candidate, challenge.hash)
    if challenge.attempts_left <= 0:
        return Outcome.EXHAUSTED, challenge
    if now >= challenge.expires_at:
        return Outcome.EXPIRED, challenge
    if equal:
        return Outcome.PASSED, replace(challenge, attempts_left=0)
    return Outcome.WRONG, replace(challenge, attempts_left=challenge.attempts_left - 1)


def _issue(
    secret: str, now: dt.datetime, key: bytes, ttl: dt.timedelta, attempts: int
) -> tuple[str, Challenge]:
    if ttl <= dt.timedelta(0):
        raise ValueError("a challenge must live for some time")
    if attempts < 1:
        raise ValueError("a challenge needs at least one attempt")
    return secret, Challenge(digest(secret, key), _aware(now) + ttl, attempts)


def _check_key(key: bytes) -> None:
    # A short key would turn the keyed hash back into something guessable.
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the server key must be at least {MIN_KEY_BYTES} bytes")


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("verification times must be timezone-aware")
    return moment
