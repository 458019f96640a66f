"""Checking and normalizing the identities a request starts from. Pure code.

An identity is untrusted input from a person: it is bounded in length, may
not carry control characters (PostgreSQL rejects NUL outright, and they have
no place in an e-mail or phone number), and must name a declared identity
type. Values are only ever passed to the database as bound parameters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from covenant.declaration.catalog import Catalog
from covenant.declaration.model import IdentityType
from covenant.errors import IdentityError

Identities = dict[str, tuple[str, ...]]


def parse_pairs(pairs: Iterable[str]) -> list[tuple[str, str]]:
    """Split ``type=value`` strings as given on the command line."""
    out = []
    for pair in pairs:
        kind, sep, value = pair.partition("=")
        if not sep or not kind.strip():
            raise IdentityError(
                f"write an identity as type=value, for example email=ana@example.com (got {pair[:40]!r})"
            )
        out.append((kind.strip(), value))
    return out


def normalize(
    pairs: Iterable[tuple[str, str]], catalog: Catalog, declared: Iterable[IdentityType]
) -> Identities:
    """Validate identity pairs against the declaration; group values by type."""
    types = {t.key: t for t in declared}
    for key in catalog.identity_types():
        types.setdefault(key, IdentityType(key=key, label=key))
    usable = catalog.identity_types()
    out: dict[str, list[str]] = {}
    for kind, raw in pairs:
        if kind not in usable:
            known = ", ".join(sorted(usable)) or "none"
            raise IdentityError(
                f"unknown identity type '{kind[:40]}'; this store declares: {known}"
            )
        out.setdefault(kind, [])
        value = _clean(raw, types[kind])
        if value not in out[kind]:
            out[kind].append(value)
    if not out:
        raise IdentityError(
            "give at least one identity, for example --identity email=ana@example.com"
        )
    return {k: tuple(v) for k, v in out.items()}


def _clean(raw: str, kind: IdentityType) -> str:
    value = unicodedata.normalize("NFC", raw.strip())
    if not value:
        raise IdentityError(f"the {kind.label} is empty")
    if len(value) > kind.max_length:
        raise IdentityError(f"the {kind.label} is longer than {kind.max_length} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        raise IdentityError(f"the {kind.label} contains control characters")
    if kind.normalize == "lowercase":
        value = value.lower()
    elif kind.normalize == "digits":
        digits = re.sub(r"\D", "", value)
        if not digits:
            raise IdentityError(f"the {kind.label} has no digits")
        value = ("+" if value.startswith("+") else "") + digits
    return value


def as_dict(identities: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in identities.items()}
