"""What an API token may do. Pure.

A scope names one resource and one verb, ``resource:read`` or
``resource:write``, as OAuth 2.0 scopes are written (RFC 6749 §3.3). Write
does not imply read: a backend that only files requests from an account page
never needs to read anyone's status, and least privilege (OWASP REST Security
Cheat Sheet, "Access Control") gives it only what it uses.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from covenant.errors import CovenantError


class Scope(enum.StrEnum):
    REQUESTS_WRITE = "requests:write"
    REQUESTS_READ = "requests:read"
    CONSENT_WRITE = "consent:write"
    CONSENT_READ = "consent:read"


DESCRIPTIONS: dict[Scope, str] = {
    # Shown by the OpenAPI document and docs/api.md.
    Scope.REQUESTS_WRITE: "Submit privacy requests (POST /api/v1/requests).",
    Scope.REQUESTS_READ: "Read a request's status (GET /api/v1/requests/{id}).",
    Scope.CONSENT_WRITE: "Record consent for a person (reserved: the consent API takes COVENANT_API_KEY).",
    Scope.CONSENT_READ: "Ask about a person's consent (reserved: the consent API takes COVENANT_API_KEY).",
}


class UnknownScope(CovenantError):
    """That is not a scope. Scopes: requests:write, requests:read, consent:write, consent:read."""

    exit_code = 2
    status = 400


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """The scopes named, at least one; an unknown one is an error, not ignored."""
    found: set[Scope] = set()
    for value in values:
        try:
            found.add(Scope(value.strip().lower()))
        except ValueError:
            raise UnknownScope() from None
    if not found:
        raise UnknownScope("Give at least one scope, e.g. --scope requests:write.")
    return frozenset(found)


def to_text(scopes: Iterable[Scope]) -> str:
    return " ".join(sorted(s.value for s in scopes))


def from_text(text: str) -> frozenset[Scope]:
    # Scopes from the table were checked when written; one this version no
    # longer knows is dropped rather than granted.
    known = {s.value for s in Scope}
    return frozenset(Scope(v) for v in text.split() if v in known)
