"""What a staff username may be, and the one form it is stored and compared in. Pure.

Following the idea of RFC 8265 (PRECIS) §3.3, the UsernameCaseMapped profile,
a name is width-mapped and normalized (Unicode NFKC), case-folded, and
normalized again, so ``Ana``, ``ANA`` and the fullwidth forms of those letters
are one account.
The result must then fit a deliberately narrower repertoire than PRECIS
allows: ASCII letters, digits and ``. _ @ + -``. Staff usernames are few and
chosen by an administrator, and an ASCII-only repertoire rules out look-alike
accounts (a Cyrillic a, U+0430, in ``admin``) that case folding alone cannot.
"""

from __future__ import annotations

import re
import unicodedata

from covenant.errors import CovenantError

MAX_CHARS = 128
_SHAPE = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,127}")
# Anything longer is refused before Unicode normalization, which costs time
# in proportion to the input.
_MAX_INPUT = 4 * MAX_CHARS


class InvalidUsername(CovenantError):
    """A username is 1 to 128 characters: letters a-z, digits and . _ @ + - (starting with a letter or digit)."""

    exit_code = 2
    status = 400


def normalize(name: str) -> str | None:
    """The stored form of ``name``, or None when it is not an acceptable username."""
    if not name or len(name) > _MAX_INPUT:
        return None
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded if _SHAPE.fullmatch(folded) else None


def check(name: str) -> str:
    """The stored form of ``name``; raises :class:`InvalidUsername` when it has none."""
    folded = normalize(name)
    if folded is None:
        raise InvalidUsername()
    return folded
