"""Audit events for API tokens, registered like a plugin's.

They record who was given access to the API and when it was taken away
(OWASP Logging Cheat Sheet: "user administration actions"). ``subject_ref``
is the token's row (``api_token:<id>``); the token itself, and its hash, never
go into the trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from covenant.audit import AuditEvent, registered


@registered("api.token_created")
@dataclass(frozen=True, kw_only=True)
class ApiTokenCreated(AuditEvent):
    """An API token was made with ``scopes`` (space-separated)."""

    scopes: str


@registered("api.token_revoked")
@dataclass(frozen=True, kw_only=True)
class ApiTokenRevoked(AuditEvent):
    """An API token stopped working."""
