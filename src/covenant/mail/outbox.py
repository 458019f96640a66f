"""The durable outbox: messages are written first, sent after, and never twice at once.

A caller queues a message in its own transaction (``conn=``), so a request's
move and the message it calls for commit together or not at all (the
transactional outbox pattern). :meth:`Outbox.deliver` later takes due
messages one at a time, sends each, and records the result.

Two delivering processes never take the same message. A claim bumps
``attempts`` and pushes ``next_attempt_at`` to the end of the claim, so the
message is no longer due for anyone else:

* on PostgreSQL the row is picked with ``SELECT ... FOR UPDATE SKIP LOCKED``,
  so a second deliverer skips it instead of waiting;
* on SQLite and MariaDB the claim is a compare-and-set, an ``UPDATE`` that
  only matches while ``state`` and ``attempts`` are what the deliverer read;
  the loser matches no row and tries the next message.

A deliverer that dies mid-send leaves its claim to run out; the message is
then tried again with the same Message-ID (RFC 5322 §3.6.4), so a receiving
system can tell a repeat. Delivery is therefore at least once, and exactly
once whenever deliverers finish what they claim.

Content is sealed with the service's :class:`~covenant.keys.Sealer`; see
:mod:`covenant.mail.tables` for what stays plain.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from covenant.keys import SealBroken, Sealer
from covenant.mail.messages import Message, MessageInvalid
from covenant.mail.retry import RetryPolicy
from covenant.mail.smtp import Sender, SendFailed
from covenant.mail.tables import mail_outbox

logger = logging.getLogger(__name__)

_t = mail_outbox.c
CLAIM_FOR = dt.timedelta(minutes=10)
"""Longer than the slowest send: every SMTP step may take the sender's whole timeout."""
_CANDIDATES = 20
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    """Tried ``max_attempts`` times, or refused for good; never tried again."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message as the outbox keeps it; ``message`` is None once purged."""

    id: str
    created_at: dt.datetime
    template: str
    request_id: str | None
    state: OutboxState
    attempts: int
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_error: str | None
    message_id: str
    message: Message | None


@dataclass(frozen=True, slots=True)
class _Claim:
    id: str
    attempts: int
    """The attempt this claim is, counted from 1; the final update matches on it."""


class Outbox:
    """The ``mail_outbox`` table of one database, its content sealed by ``sealer``.

    ``domain`` is the right side of every Message-ID: the domain of
    ``COVENANT_MAIL_FROM``.
    """

    def __init__(
        self,
        engine: sa.Engine,
        sealer: Sealer,
        *,
        domain: str = "localhost",
        retry: RetryPolicy | None = None,
        claim_for: dt.timedelta = CLAIM_FOR,
    ) -> None:
        if not _DOMAIN.match(domain):
            raise ValueError(f"{domain!r} is not a domain for Message-IDs")
        self.engine = engine
        self._sealer = sealer
        self.domain = domain
        self.retry = retry or RetryPolicy()
        self.claim_for = claim_for

    def __repr__(self) -> str:
        return f"Outbox({self.engine.url!r})"

    def queue(
        self,
        message: Message,
        *,
        request_id: str | None = None,
        conn: sa.Connection | None = None,
        at: dt.datetime,
    ) -> str:
        """Keep ``message`` to be sent; its id. Inside ``conn``'s transaction when given
        (the caller commits), else committed before this returns."""
        if at.tzinfo is None:
            raise ValueError("queue times must be timezone-aware")
        if request_id is not None and not _REQUEST_ID.match(request_id):
            raise MessageInvalid("a request id is 1 to 64 letters, digits, '-' or '_'")
        entry_id = str(uuid.uuid4())
        seal = self._sealer.seal
        row = {
            "id": entry_id,
            "created_at": at,
            "template": message.template,
            "request_id": request_id,
            "to_sealed": seal(message.to),
            "subject_sealed": seal(message.subject),
            "text_sealed": seal(message.text),
            "html_sealed": seal(message.html) if message.html is not None else None,
            "state": OutboxState.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": at,
            "message_id": f"<{entry_id}@{self.domain}>",
        }
        if conn is not None:
            conn.execute(mail_outbox.insert().values(row))
        else:
            with self.engine.begin() as own:
                own.execute(mail_outbox.insert().values(row))
        return entry_id

    def pending(self, limit: int = 100) -> list[OutboxEntry]:
        """Messages not yet sent and not given up on, oldest first."""
        query = (
            sa.select(mail_outbox)
            .where(_t.state == OutboxState.QUEUED.value)
            .order_by(_t.created_at, _t.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [self._entry(row) for row in conn.execute(query)]

    def messages(self, request_id: str | None = None, limit: int = 50) -> list[OutboxEntry]:
        """Messages newest first, all states, decrypted: for the outbox page and staff."""
        query = sa.select(mail_outbox).order_by(_t.created_at.desc(), _t.id.desc()).limit(limit)
        if request_id is not None:
            query = query.where(_t.request_id == request_id)
        with self.engine.connect() as conn:
            return [self._entry(row) for row in conn.execute(query)]

    def get(self, entry_id: str) -> OutboxEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(mail_outbox).where(_t.id == entry_id)).first()
        return self._entry(row) if row is not None else None

    def deliver(self, sender: Sender | None, *, now: dt.datetime, limit: int = 100) -> int:
        """Send up to ``limit`` due messages; how many were sent.

        With no sender (no ``COVENANT_SMTP_HOST``) nothing is sent and nothing
        changes: messages stay queued for when a server is configured.
        """
        if sender is None:
            return 0
        sent = 0
        for _ in range(limit):
            claim = self._claim(now)
            if claim is None:
                break
            sent += self._send(claim, sender, now)
        return sent

    def purge_sent(self, older_than: dt.datetime) -> int:
        """Blank the sealed content of messages sent (or failed) before ``older_than``.

        The outbox page needs a sent message for a while; its code and links do
        not need to outlive that. The row stays, as the record that it was sent.
        """
        query = (
            mail_outbox.update()
            .where(
                _t.state.in_([OutboxState.SENT.value, OutboxState.FAILED.value]),
                sa.func.coalesce(_t.sent_at, _t.created_at) < older_than,
                _t.to_sealed.is_not(None),
            )
            .values(to_sealed=None, subject_sealed=None, text_sealed=None, html_sealed=None)
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount

    # -- claiming and sending ------------------------------------------------------

    def _due(self, now: dt.datetime) -> sa.Select[Any]:
        return (
            sa.select(_t.id, _t.attempts)
            .where(_t.state == OutboxState.QUEUED.value, _t.next_attempt_at <= now)
            .order_by(_t.next_attempt_at, _t.id)
        )

    def _claim(self, now: dt.datetime) -> _Claim | None:
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                row = conn.execute(
                    self._due(now).limit(1).with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                return self._take(conn, row.id, row.attempts, now)
        while True:
            with self.engine.connect() as conn:
                candidates = conn.execute(self._due(now).limit(_CANDIDATES)).all()
            if not candidates:
                return None
            for row in candidates:
                with self.engine.begin() as conn:
                    claim = self._take(conn, row.id, row.attempts, now)
                if claim is not None:
                    return claim
            # Every candidate went to another deliverer: look again.

    def _take(
        self, conn: sa.Connection, entry_id: str, seen: int, now: dt.datetime
    ) -> _Claim | None:
        taken = conn.execute(
            mail_outbox.update()
            .where(
                _t.id == entry_id,
                _t.state == OutboxState.QUEUED.value,
                _t.attempts == seen,
            )
            .values(attempts=seen + 1, next_attempt_at=now + self.claim_for)
        )
        return _Claim(entry_id, seen + 1) if taken.rowcount == 1 else None

    def _send(self, claim: _Claim, sender: Sender, now: dt.datetime) -> int:
        log: dict[str, object] = {"outbox_id": claim.id, "attempt": claim.attempts}
        try:
            entry = self.get(claim.id)
            if entry is None or entry.message is None:
                raise SendFailed("the message content is gone", permanent=True)
            # RFC 5322 §3.6.1: the Date is when the message was ready, which is
            # when it was queued; a retry sends the very same message.
            sender.send(entry.message, message_id=entry.message_id, date=entry.created_at)
        except SendFailed as exc:
            return self._failed(claim, now, exc.message, permanent=exc.permanent, log=log)
        except SealBroken:
            reason = "sealed under another key"
            return self._failed(claim, now, reason, permanent=True, log=log)
        except Exception as exc:
            # A bug in a sender must not stop every other message: record it and
            # move on. The class name only: an exception's text may hold the address.
            logger.exception("sending outbox message %s failed", claim.id, extra=log)
            return self._failed(claim, now, type(exc).__name__, permanent=False, log=log)
        self._finish(
            claim,
            state=OutboxState.SENT,
            sent_at=now,
            next_attempt_at=None,
            last_error=None,
        )
        logger.info("sent outbox message %s", claim.id, extra={"action": "mail_sent", **log})
        return 1

    def _failed(
        self,
        claim: _Claim,
        now: dt.datetime,
        reason: str,
        *,
        permanent: bool,
        log: dict[str, object],
    ) -> int:
        retry_at = None if permanent else self.retry.next_attempt(claim.attempts, now)
        state = OutboxState.QUEUED if retry_at is not None else OutboxState.FAILED
        self._finish(claim, state=state, next_attempt_at=retry_at, last_error=reason[:200])
        logger.warning(
            "outbox message %s not sent (%s)",
            claim.id,
            reason,
            extra={"action": "mail_retry" if retry_at else "mail_failed", **log},
        )
        return 0

    def _finish(self, claim: _Claim, **values: object) -> None:
        # Matches only while this claim is the latest: a deliverer whose claim ran
        # out and was taken over must not overwrite the newer outcome.
        with self.engine.begin() as conn:
            conn.execute(
                mail_outbox.update()
                .where(_t.id == claim.id, _t.attempts == claim.attempts)
                .values(**values)
            )

    def _entry(self, row: sa.Row[Any]) -> OutboxEntry:
        return OutboxEntry(
            id=row.id,
            created_at=row.created_at,
            template=row.template,
            request_id=row.request_id,
            state=OutboxState(row.state),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            sent_at=row.sent_at,
            last_error=row.last_error,
            message_id=row.message_id,
            message=self._open(row),
        )

    def _open(self, row: sa.Row[Any]) -> Message | None:
        if row.to_sealed is None:
            return None
        text = self._sealer.open_text
        return Message(
            to=text(row.to_sealed),
            subject=text(row.subject_sealed),
            text=text(row.text_sealed),
            html=text(row.html_sealed) if row.html_sealed is not None else None,
            template=row.template,
        )
