"""Audit events for managing staff accounts, registered like a plugin's.

Sign-in itself is recorded with :class:`~covenant.audit.StaffLogin` and
:class:`~covenant.audit.StaffLoginFailed`. These record who was given access
and how it changed (OWASP Logging Cheat Sheet: "user administration actions").
``subject_ref`` is the account (``staff:<id>``), never its username.
"""

from __future__ import annotations

from dataclasses import dataclass

from covenant.audit import AuditEvent, registered


@registered("staff.account_created")
@dataclass(frozen=True, kw_only=True)
class StaffAccountCreated(AuditEvent):
    """A staff account was created with ``role``."""

    role: str


@registered("staff.role_changed")
@dataclass(frozen=True, kw_only=True)
class StaffRoleChanged(AuditEvent):
    """A staff account's role changed; its sessions were ended."""

    role: str


@registered("staff.password_changed")
@dataclass(frozen=True, kw_only=True)
class StaffPasswordChanged(AuditEvent):
    """A staff account's password was set; its sessions were ended."""


@registered("staff.account_disabled")
@dataclass(frozen=True, kw_only=True)
class StaffAccountDisabled(AuditEvent):
    """A staff account can no longer sign in; its sessions were ended."""
