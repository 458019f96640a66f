"""Typed audit events: what happened, who did it, and to which request or account.

Owns the vocabulary of the audit trail: one frozen dataclass per kind of
event, each with a stable dotted ``action`` name, and the registry that turns
a stored record back into its typed event. Shaped after datasette's
``events.py``.

An event must never carry personal data. ``subject_ref`` is an opaque
reference (a request id, a staff account id, a consent record id), never an
e-mail address, a name or a phone number: the audit trail is kept far longer
than the data it describes, and an erasure must not leave the person behind
in the log. :func:`find_personal_data` rejects the obvious cases (e-mail
addresses and phone numbers in any string field, keys included); it is a guard
against mistakes, not a scanner that can prove a value is anonymous.

This module does no I/O and knows nothing of hashing or storage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from covenant.errors import CovenantError


class AuditError(CovenantError):
    """The audit trail could not record or read an entry."""

    exit_code = 5
    status = 500


class InvalidEvent(AuditError):
    """The audit event is not well formed."""

    exit_code = 2
    status = 400


class PersonalDataInEvent(InvalidEvent):
    """An audit event must not carry personal data; refer to the subject by an opaque reference."""


ACTOR = re.compile(r"system|consumer|agent|staff:[A-Za-z0-9_-]{1,64}|api:[a-z0-9_-]{1,48}")
"""Who acted: the service itself, the consumer, an authorized agent, one staff account,
or one API token of the store's backend (by its name)."""

SUBJECT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
"""An opaque token such as ``req_01HZX...`` or ``staff:7``; no spaces, no ``@``, no ``+``."""

ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Two shapes only: international ("+44 20 7946 0958") and North American
# ("(555) 123-4567", "555.123.4567"). Bare digit runs are left alone on
# purpose: order numbers, counts and ids are digit runs too, and a false
# alarm here would stop a request's workflow.
_PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")


def find_personal_data(value: object, path: str = "") -> str | None:
    """The path of the first string in ``value`` that looks like an e-mail or phone number."""
    if isinstance(value, str):
        return path if _EMAIL.search(value) or _PHONE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_personal_data(key, f"{path}[key]") or find_personal_data(
                item, f"{path}[{key!r}]"
            )
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = find_personal_data(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """Something that happened, as the audit trail records it.

    ``actor`` says who: ``"system"``, ``"consumer"``, ``"agent"`` or
    ``"staff:<account id>"``. ``subject_ref`` says to what, as an opaque
    reference. The other fields of a subclass form the entry's body.
    """

    action: ClassVar[str]

    actor: str
    subject_ref: str

    def __post_init__(self) -> None:
        if not ACTOR.fullmatch(self.actor):
            raise InvalidEvent(
                f"{self.action}: actor must be system, consumer, agent, staff:<id> or api:<name>"
            )
        if not SUBJECT_REF.fullmatch(self.subject_ref):
            raise InvalidEvent(f"{self.action}: subject_ref must be an opaque reference")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                # A frozen event stays frozen: keep a private, read-only copy.
                object.__setattr__(self, f.name, types.MappingProxyType(dict(value)))
            # The message names the field, never the value: error messages end
            # up in logs, which is exactly where the personal data must not go.
            where = find_personal_data(value, f.name)
            if where is not None:
                raise PersonalDataInEvent(
                    f"{self.action}: {where} looks like an e-mail address or phone number; "
                    "audit events carry opaque references, never personal data"
                )

    def body(self) -> dict[str, Any]:
        """The event-specific fields, as the entry's body."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("actor", "subject_ref")
        }


EVENTS: dict[str, type[AuditEvent]] = {}
"""Every registered event class by its action name."""

E = TypeVar("E", bound=type[AuditEvent])


def registered(action: str) -> Callable[[E], E]:
    """Class decorator: name the event ``action`` and make it readable back from the log.

    The built-in events use it; a plugin registers its own the same way.
    """
    if not ACTION.fullmatch(action):
        raise InvalidEvent(f"{action!r}: an action is a dotted lower-case name")

    def wrap(cls: E) -> E:
        if action in EVENTS:
            raise InvalidEvent(f"{cls.__name__}: action {action!r} is already registered")
        cls.action = action
        EVENTS[action] = cls
        return cls

    return wrap


def from_record(action: str, actor: str, subject_ref: str, body: Mapping[str, Any]) -> AuditEvent:
    """The typed event a stored entry records."""
    cls = EVENTS.get(action)
    if cls is None:
        raise AuditError(f"unknown audit action {action!r}; is the plugin that defines it loaded?")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - {"actor", "subject_ref"}
    unknown = sorted(set(body) - names)
    if unknown:
        raise AuditError(f"{action}: the stored body has unknown fields {unknown}")
    values = {name: _decode(hints[name], value) for name, value in body.items()}
    try:
        return cls(actor=actor, subject_ref=subject_ref, **values)
    except TypeError as exc:  # a required field is missing from the stored body
        raise AuditError(f"{action}: the stored body does not fit the event ({exc})") from None


def _decode(tp: Any, value: Any) -> Any:
    """Undo the JSON encoding for the few types events use (dates, tuples)."""
    if value is None:
        return None
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return _decode(arg, value)
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if tp is dt.date:
        return dt.date.fromisoformat(value)
    if typing.get_origin(tp) is tuple:
        return tuple(value)
    return value


def _empty() -> Mapping[str, int]:
    return {}


# The events the request desk, consent and the staff console record. Names are
# stable: they are stored, and a rename would orphan every older entry.


@registered("request.received")
@dataclass(frozen=True, kw_only=True)
class RequestReceived(AuditEvent):
    """A request arrived (seed P16: by web, API, e-mail, phone or post)."""

    kind: str
    """``know``, ``access``, ``delete``, ``correct``, ``opt_out_sale``, ``opt_out_marketing``."""
    channel: str
    """``web``, ``api``, ``email``, ``phone`` or ``post``."""
    jurisdiction: str | None = None
    by_agent: bool = False


@registered("verification.sent")
@dataclass(frozen=True, kw_only=True)
class VerificationSent(AuditEvent):
    """A verification code or link went out (its value is never recorded)."""

    method: str


@registered("verification.passed")
@dataclass(frozen=True, kw_only=True)
class VerificationPassed(AuditEvent):
    """The requester proved who they are."""

    method: str
    data_points: int = 0
    """How many data points matched the store's records (2 or 3 by sensitivity)."""


@registered("verification.failed")
@dataclass(frozen=True, kw_only=True)
class VerificationFailed(AuditEvent):
    """Verification did not succeed; ``reason`` is what the requester was told (seed P18)."""

    method: str
    reason: str


@registered("request.approved")
@dataclass(frozen=True, kw_only=True)
class RequestApproved(AuditEvent):
    """Staff approved the request for fulfillment."""


@registered("request.fulfillment_started")
@dataclass(frozen=True, kw_only=True)
class FulfillmentStarted(AuditEvent):
    """The service began fulfilling a verified request that needs no staff approval."""


@registered("request.fulfillment_requeued")
@dataclass(frozen=True, kw_only=True)
class FulfillmentRequeued(AuditEvent):
    """A fulfillment attempt stopped before completing; the request waits to be tried again."""


@registered("request.cancelled")
@dataclass(frozen=True, kw_only=True)
class RequestCancelled(AuditEvent):
    """The request was withdrawn, or closed by staff, before any response."""


@registered("request.denied")
@dataclass(frozen=True, kw_only=True)
class RequestDenied(AuditEvent):
    """The request was denied; ``reason`` is the basis given (CCPA §7101 keeps it)."""

    reason: str


@registered("request.deadline_extended")
@dataclass(frozen=True, kw_only=True)
class DeadlineExtended(AuditEvent):
    """The response deadline moved, with notice to the requester."""

    reason: str
    new_due: dt.date


@registered("request.completed")
@dataclass(frozen=True, kw_only=True)
class RequestCompleted(AuditEvent):
    """The response went out and the request is closed."""


@registered("request.note_added")
@dataclass(frozen=True, kw_only=True)
class NoteAdded(AuditEvent):
    """Staff added a note to a request; the note's text stays with the request, not here."""


@registered("request.task_completed")
@dataclass(frozen=True, kw_only=True)
class TaskCompleted(AuditEvent):
    """A manual task of a deletion was done (CCPA §7022(b)); ``target`` is the recipient or
    system key from the declaration. The evidence text stays with the task."""

    target: str


@registered("records.exported")
@dataclass(frozen=True, kw_only=True)
class RecordsExported(AuditEvent):
    """Staff downloaded ``export``: ``requests`` (the §7101 records) or ``audit`` (this log)."""

    export: str


@registered("erasure.verified")
@dataclass(frozen=True, kw_only=True)
class ErasureVerified(AuditEvent):
    """Re-reading the data proved the erasure; counts are per collection, never values."""

    erased: Mapping[str, int]
    """Rows erased or rewritten per collection."""
    held: Mapping[str, int] = field(default_factory=_empty)
    """Rows kept under a retention hold per collection."""


@registered("consent.recorded")
@dataclass(frozen=True, kw_only=True)
class ConsentRecorded(AuditEvent):
    """A consent choice was saved; ``subject_ref`` is the consent record, not the person."""

    choices: Mapping[str, bool]
    """Granted or refused, per purpose or tracker category."""
    statement_version: int | None = None
    gpc: bool = False
    """The choice came from a Global Privacy Control signal."""


@registered("staff.login")
@dataclass(frozen=True, kw_only=True)
class StaffLogin(AuditEvent):
    """A staff member signed in to the console."""


@registered("staff.login_failed")
@dataclass(frozen=True, kw_only=True)
class StaffLoginFailed(AuditEvent):
    """A console sign-in failed; ``subject_ref`` is the account's id, or ``unknown``.

    The name typed in is not recorded: it is often an e-mail address.
    """

    reason: str
    locked: bool = False


@registered("export.downloaded")
@dataclass(frozen=True, kw_only=True)
class ExportDownloaded(AuditEvent):
    """A requester downloaded the package delivered for their request."""

    package_ref: str
