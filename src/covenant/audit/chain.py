"""The hash chain: canonical encoding of an entry, its link hash, and verification.

Owns the chain format, which is a stored contract: changing a byte of it
makes every existing log fail verification. It does no I/O and never decides
what to record (``events`` does) or where (``store`` does).

Format
    ``canonical(entry)`` is the JSON object ``{"action", "actor", "at", "body",
    "seq", "subject_ref"}`` with keys sorted, no whitespace, UTF-8 (not
    ``\\u`` escapes), times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. Floats are
    refused: their text form differs between languages, and an outside
    verifier must reproduce these bytes exactly.

    ``hash = SHA-256(prev_hash || canonical(entry))`` in lower-case hex, where
    ``prev_hash`` is the previous entry's hash as 64 ASCII hex characters, and
    64 zeros for the first entry. With a key configured, the hash is
    ``HMAC-SHA-256(key, prev_hash || canonical(entry))`` instead.

Threat model
    The chain is tamper-EVIDENT, not tamper-proof. Anyone with write access to
    the database can still edit, delete, reorder or insert rows; :func:`verify`
    then names the first entry where the chain no longer holds.

    Without a key, someone who can write the table can also recompute every
    hash after their edit, and the chain verifies again. Two defences, best
    together:

    * a key (HMAC), held outside the database (an environment variable or a
      secret store): with database access but without the key, a forged or
      edited entry cannot be given a valid hash;
    * an anchor: the latest ``(seq, hash)`` copied somewhere the database's
      writers cannot change (printed in a ticket, sent to a log service,
      committed to a repository). ``verify(..., anchor=...)`` then also proves
      nothing up to that point was rewritten and that the log was not cut
      short. Deleting the newest entries is only detectable this way.

    The key does not protect against someone who holds both the key and
    database write access, such as the service itself when compromised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from covenant.audit.events import AuditError, AuditEvent, from_record

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""


def format_time(at: dt.datetime) -> str:
    """An aware datetime in the chain's one time format (UTC, always microseconds)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types, refusing anything without one exact text form."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit keys must be strings, not {type(key).__name__}")
            out[key] = _plain(item)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise TypeError(f"{type(value).__name__} has no canonical audit encoding")


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes of ``value``: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_entry(
    *, seq: int, at: dt.datetime, action: str, actor: str, subject_ref: str, body: str
) -> bytes:
    """The bytes an entry's hash covers; ``body`` is the stored canonical JSON text.

    The body is embedded as stored rather than parsed and re-encoded, so any
    change to its bytes, even one that means the same JSON, breaks the hash.
    For a body written by :func:`canonical` the result equals
    ``canonical({... "body": <parsed body>})``.
    """
    fields: dict[str, bytes] = {
        "action": canonical(action),
        "actor": canonical(actor),
        "at": canonical(format_time(at)),
        "body": body.encode("utf-8"),
        "seq": canonical(seq),
        "subject_ref": canonical(subject_ref),
    }
    return b"{" + b",".join(canonical(k) + b":" + fields[k] for k in sorted(fields)) + b"}"


def entry_hash(prev_hash: str, entry: bytes) -> str:
    """``SHA-256(prev_hash || entry)`` in hex: the unkeyed link."""
    return hashlib.sha256(prev_hash.encode("ascii") + entry).hexdigest()


def keyed_hash(key: bytes, prev_hash: str, entry: bytes) -> str:
    """``HMAC-SHA-256(key, prev_hash || entry)`` in hex: the link when a key is configured."""
    return hmac.new(key, prev_hash.encode("ascii") + entry, hashlib.sha256).hexdigest()


def link_hash(prev_hash: str, entry: bytes, key: bytes | None) -> str:
    return entry_hash(prev_hash, entry) if key is None else keyed_hash(key, prev_hash, entry)


@dataclass(frozen=True)
class Entry:
    """One stored link of the chain."""

    seq: int
    at: dt.datetime
    action: str
    actor: str
    subject_ref: str
    body: str
    """The event-specific fields as canonical JSON text, exactly as hashed."""
    prev_hash: str
    hash: str

    def canonical(self) -> bytes:
        return canonical_entry(
            seq=self.seq,
            at=self.at,
            action=self.action,
            actor=self.actor,
            subject_ref=self.subject_ref,
            body=self.body,
        )

    def event(self) -> AuditEvent:
        """The typed event this entry records."""
        try:
            body = json.loads(self.body)
        except ValueError:
            raise AuditError(f"entry {self.seq}: the body is not JSON; verify the log") from None
        return from_record(self.action, self.actor, self.subject_ref, body)


def seal(
    event: AuditEvent, *, seq: int, at: dt.datetime, prev_hash: str, key: bytes | None
) -> Entry:
    """The entry that records ``event`` after the entry whose hash is ``prev_hash``."""
    body = canonical(event.body()).decode("utf-8")
    unsealed = Entry(seq, at, event.action, event.actor, event.subject_ref, body, prev_hash, "")
    return Entry(
        seq,
        at,
        event.action,
        event.actor,
        event.subject_ref,
        body,
        prev_hash,
        link_hash(prev_hash, unsealed.canonical(), key),
    )


@dataclass(frozen=True)
class Anchor:
    """A ``(seq, hash)`` pair copied out of the database to check the log against later."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """Read back what ``str(anchor)`` printed."""
        seq, _, digest = text.strip().partition(":")
        return cls(int(seq), digest)


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found. ``broken_at`` is the first seq where the chain does not hold."""

    ok: bool
    checked: int
    """Entries that verified before the first break (all of them when ``ok``)."""
    head: Anchor | None
    """The last entry that verified: what to anchor externally."""
    broken_at: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.checked} entries, head {self.head or 'empty'}"
        return f"audit chain broken at seq {self.broken_at}: {self.reason}"


def verify(
    entries: Iterable[Entry], *, key: bytes | None = None, anchor: Anchor | None = None
) -> VerifyResult:
    """Walk ``entries`` in seq order, once, in constant memory; stop at the first break.

    Detects an edited entry (its hash no longer matches), a deleted one (a gap
    in seq), reordered ones (seq is hashed, so a swapped seq no longer matches)
    and inserted ones (no valid hash without the key, or a gap or a broken
    ``prev_hash``). With ``anchor``, also a rewritten or truncated history.
    """
    prev, expected, head = GENESIS, 1, None

    def broken(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, expected - 1, head, seq, reason)

    for entry in entries:
        if entry.seq > expected:
            missing = (
                f"entry {expected} is missing"
                if entry.seq == expected + 1
                else f"entries {expected} to {entry.seq - 1} are missing"
            )
            return broken(expected, missing)
        if entry.seq < expected:
            return broken(expected, f"entries are out of order: {entry.seq} follows {expected - 1}")
        if not hmac.compare_digest(entry.prev_hash, prev):
            return broken(entry.seq, f"prev_hash does not match the hash of entry {entry.seq - 1}")
        if not hmac.compare_digest(entry.hash, link_hash(prev, entry.canonical(), key)):
            return broken(
                entry.seq,
                "the entry does not match its hash (edited, or hashed without the key)",
            )
        if anchor is not None and entry.seq == anchor.seq and entry.hash != anchor.hash:
            return broken(entry.seq, f"the hash differs from the anchor {anchor}")
        prev, expected, head = entry.hash, expected + 1, Anchor(entry.seq, entry.hash)
    if anchor is not None and anchor.seq >= expected:
        return broken(expected, f"the log ends at entry {expected - 1}; the anchor is {anchor}")
    return VerifyResult(True, expected - 1, head)
