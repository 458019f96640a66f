"""The audit trail: every action on a request, a consent or the console, hash-chained.

``events`` names what can be recorded (typed, free of personal data),
``chain`` defines the tamper-evident format and verifies it (pure), and
``store`` keeps the append-only log in Covenant's own database. See
``docs/audit.md``.
"""

from __future__ import annotations

from covenant.audit.chain import Anchor, Entry, VerifyResult, canonical, verify
from covenant.audit.events import (
    EVENTS,
    AuditError,
    AuditEvent,
    ConsentRecorded,
    DeadlineExtended,
    ErasureVerified,
    ExportDownloaded,
    FulfillmentRequeued,
    FulfillmentStarted,
    InvalidEvent,
    NoteAdded,
    PersonalDataInEvent,
    RecordsExported,
    RequestApproved,
    RequestCancelled,
    RequestCompleted,
    RequestDenied,
    RequestReceived,
    StaffLogin,
    StaffLoginFailed,
    TaskCompleted,
    VerificationFailed,
    VerificationPassed,
    VerificationSent,
    registered,
)
from covenant.audit.store import AppendContention, AuditLog, key_from_env
from covenant.db import metadata

__all__ = [
    "EVENTS",
    "Anchor",
    "AppendContention",
    "AuditError",
    "AuditEvent",
    "AuditLog",
    "ConsentRecorded",
    "DeadlineExtended",
    "Entry",
    "ErasureVerified",
    "ExportDownloaded",
    "FulfillmentRequeued",
    "FulfillmentStarted",
    "InvalidEvent",
    "NoteAdded",
    "PersonalDataInEvent",
    "RecordsExported",
    "RequestApproved",
    "RequestCancelled",
    "RequestCompleted",
    "RequestDenied",
    "RequestReceived",
    "StaffLogin",
    "StaffLoginFailed",
    "TaskCompleted",
    "VerificationFailed",
    "VerificationPassed",
    "VerificationSent",
    "VerifyResult",
    "canonical",
    "key_from_env",
    "metadata",
    "registered",
    "verify",
]
