"""The request desk: a person's request from the form to the answer.

Owns the use cases the privacy center, the staff console, the API and the
workers share: submitting a request, proving who one is (an e-mail code, then
data points where the kind of request needs them), staff decisions
(approve, deny, extend, notes, manual tasks), fulfilment by the engine, and
delivery of the answer. The request's moves are
:class:`~covenant.requests.store.RequestStore`'s, each audited in the move's
own transaction; what the person is told goes into the outbox in that same
transaction, so a move and its message commit together or not at all.

Nothing here reveals whether someone is a customer: submitting never looks
the person up, and the data-points step answers in the same words whether a
record was found or not (:mod:`covenant.requests.verification`).

Every step can run twice. :meth:`Desk.fulfil` in particular may run in two
workers at once, or again after a worker died half-way: the engine's work is
idempotent (an erasure of what is already erased finds nothing), results are
upserted, and only one worker's move to ``completed`` wins its
compare-and-set; the loser sees the request final and stops.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from covenant.audit import ErasureVerified, NoteAdded, TaskCompleted, VerificationFailed
from covenant.connectors.base import Connector
from covenant.consent.engine import ConsentEngine
from covenant.consent.engine import Submission as Choices
from covenant.consent.ledger import ConsentLedger
from covenant.consent.records import Choice, Method, Topic
from covenant.declaration import Loaded
from covenant.desk import delivery as files
from covenant.desk import documents
from covenant.desk import fulfil as fulfilment
from covenant.desk.intake import Details, Submission
from covenant.desk.lookup import point_values
from covenant.desk.packages import Delivered, LinkRefused, Packages
from covenant.desk.tables import challenges, deliveries, details, notes, results, tasks
from covenant.engine.identity import Identities, normalize
from covenant.engine.session import Session
from covenant.errors import CovenantError
from covenant.keys import Keys
from covenant.mail import messages as mail
from covenant.mail.messages import Message
from covenant.requests import codes
from covenant.requests.deadlines import (
    DEFAULT_RULES,
    DeadlineRules,
    add_months,
    due,
    rules_from_mapping,
)
from covenant.requests.lifecycle import Channel, DenialReason, Kind, State
from covenant.requests.store import Request, RequestStore
from covenant.requests.verification import (
    AgentCheck,
    AgentEvidence,
    AgentPolicy,
    ConsumerStep,
    PointType,
    check_agent,
    requirement,
    verify_points,
)

log = logging.getLogger(__name__)

RECORD_MONTHS = 24
"""CCPA regs §7101(a): records of requests are kept for at least 24 months."""
MAX_POINT_ATTEMPTS = 3
MAX_CODES = 3
"""Codes sent per request, the first included: a form cannot be used to flood a mailbox."""

DENIAL_WORDS: dict[DenialReason, str] = {
    DenialReason.UNVERIFIED: (
        "We could not confirm that you are the person the request is about, so we"
        " could not act on it. You can make a new request at any time."
    ),
    DenialReason.NO_AGENT_AUTHORITY: (
        "We could not confirm that the consumer gave you permission to act for them."
    ),
    DenialReason.EXEMPT_RETENTION: (
        "A law requires us to keep this information, so we cannot delete it."
    ),
    DenialReason.MANIFESTLY_UNFOUNDED: (
        "The request is manifestly unfounded or excessive, so we will not act on it."
    ),
    DenialReason.TOO_MANY: (
        "We already answered two requests for your information in the last 12 months,"
        " which is as many as the law asks us to answer."
    ),
    DenialReason.MINOR: (
        "The request concerns a child, so it needs a parent or guardian to make it."
    ),
}
"""The basis of each denial in plain words (CCPA §7101 keeps the basis; the person reads this)."""


class DeskError(CovenantError):
    """The request desk could not do that."""

    status = 409


class NotFound(DeskError):
    """No such request, or the link is not valid."""

    status = 404


class Outbox(Protocol):
    """Where the desk puts the messages it sends (:class:`covenant.mail.outbox.Outbox`)."""

    def queue(
        self,
        message: Message,
        *,
        at: dt.datetime,
        request_id: str | None = None,
        conn: sa.Connection | None = None,
    ) -> str: ...


class Queue(Protocol):
    def defer_fulfilment(self, request_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    target: str
    target_kind: str
    checklist: list[str]
    done_at: dt.datetime | None
    done_by: str | None
    evidence: str | None


@dataclass(frozen=True, slots=True)
class Note:
    at: dt.datetime
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class Step:
    """What the requester must do next, for the status page."""

    name: str
    """``code``, ``points``, ``wait``, ``download``, ``done``."""
    points: list[tuple[str, str]]
    """(name, label) of the data points to ask for, on the ``points`` step."""
    needs_declaration: bool = False


class Desk:
    """One store's request desk on Covenant's own database."""

    def __init__(
        self,
        *,
        loaded: Loaded,
        store: RequestStore,
        keys: Keys,
        outbox: Outbox,
        files_dir: Path,
        public_url: str,
        queue: Queue | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.loaded = loaded
        self.store = store
        self.engine = store.engine
        self.keys = keys
        self.sealer = keys.sealer()
        self.outbox = outbox
        self.files_dir = files_dir
        self.public_url = public_url.rstrip("/")
        self.queue = queue
        self.clock = clock
        self.policy = loaded.declaration.requests
        self.tz = zoneinfo.ZoneInfo(self.policy.timezone)
        self.letterhead = mail.Letterhead.of(loaded.declaration.organization)
        self.packages = Packages(
            store.engine,
            keys=keys,
            folder=files_dir,
            public_url=public_url,
            audit=store.audit,
            clock=lambda: self.clock(),
        )
        # One connection pool per store database for the desk's life, lent to each request.
        self._connectors: dict[str, Connector] = {}

    def __repr__(self) -> str:
        return f"Desk({self.loaded.declaration.organization.name!r})"

    def close(self) -> None:
        for connector in list(self._connectors.values()):
            connector.close()
        self._connectors.clear()
        self.engine.dispose()

    # --- Intake -------------------------------------------------------------

    def submit(
        self,
        submission: Submission,
        *,
        channel: Channel = Channel.WEB,
        actor: str = "consumer",
        attachments: tuple[bytes, ...] = (),
        verified_by: str | None = None,
    ) -> Request:
        """Open a request and send what its kind needs first: a code, or nothing for an opt-out.

        Never looks the person up: the answer, and the messages sent, are the
        same for a customer and a stranger. ``verified_by="account_token"``
        says the store's own login vouched for the account holder (CCPA regs
        §7061(a)): no code is sent and the request is verified at once; an
        agent's request cannot be verified so, since the agent did not sign in.
        """
        if verified_by not in (None, "account_token"):
            raise ValueError(f"unknown verification {verified_by!r}")
        if verified_by and submission.by_agent:
            raise DeskError("an agent's request cannot be verified by the consumer's sign-in")
        now = self.clock()
        kind = submission.kind
        info = Details.from_submission(submission)
        self._identities(info)  # an unusable identity is refused before anything is written
        if attachments:
            # An agent's signed permission (§7063(a)(1)), proof for a correction (§7023(d)).
            kept = [documents.store(content, self.files_dir).to_dict() for content in attachments]
            info = info.but(documents=tuple(kept))
        code, challenge = codes.issue_code(now, self.keys.derive("email-proof"))
        send_code = kind.needs_verification and verified_by is None
        rules = self.rules(submission.jurisdiction)
        respond_by = due(now, kind, rules, tz=self.tz).respond_by

        def write(conn: sa.Connection, request_id: str) -> None:
            conn.execute(
                details.insert(),
                {
                    "request_id": request_id,
                    "sealed": self.sealer.seal(info.to_json()),
                    "email_ref": self.subject_ref(info.email),
                    "purge_after": _months_after(now, RECORD_MONTHS),
                },
            )
            if send_code:
                conn.execute(
                    challenges.insert(),
                    {
                        "request_id": request_id,
                        "hash": challenge.hash,
                        "expires_at": challenge.expires_at,
                        "attempts_left": challenge.attempts_left,
                    },
                )
            self.outbox.queue(
                mail.receipt(
                    info.contact,
                    kind=kind,
                    received=self._day(now),
                    respond_by=self._day(respond_by),
                    letterhead=self.letterhead,
                    reference=request_id,
                    status=self.status_url(request_id),
                ),
                at=now,
                request_id=request_id,
                conn=conn,
            )
            if send_code:
                self._send_code(conn, request_id, info, code, challenge, now)
            if info.agent_email and self._asks_consumer(kind):
                self.outbox.queue(
                    mail.agent_confirmation(
                        info.email,
                        kind=kind,
                        agent=info.agent_name or info.agent_email,
                        link=f"{self.public_url}/privacy/confirm/{request_id}/"
                        + self.confirm_token(request_id),
                        letterhead=self.letterhead,
                        reference=request_id,
                    ),
                    at=now,
                    request_id=request_id,
                    conn=conn,
                )

        request = self.store.open(
            kind=kind,
            channel=channel,
            jurisdiction=submission.jurisdiction,
            subject_ref=self.subject_ref(info.email),
            received_at=now,
            actor=actor,
            by_agent=submission.by_agent,
            respond_by=respond_by,
            also=write,
        )
        if kind.needs_verification:
            self.store.move(
                request.id,
                State.AWAITING_VERIFICATION,
                actor="system",
                at=now,
                method=verified_by or "email_code",
            )
            if verified_by:
                proven = info.but(email_proven=True)
                self._save(request.id, proven)
                self._verified(request.id, proven, method=verified_by, matched=0, actor=actor)
        else:
            # Opt-outs need no verification (CCPA regs §7026(d)).
            self.store.move(request.id, State.VERIFIED, actor="system", at=now)
            self._start(request.id, actor="system")
        return self.store.get(request.id)

    # --- Verification ---------------------------------------------------------

    def check_code(self, request_id: str, code: str) -> codes.Outcome:
        """One attempt at the e-mailed code; on success the next step is data points."""
        now = self.clock()
        request = self.store.get(request_id)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(challenges).where(challenges.c.request_id == request_id)
            ).one_or_none()
            if row is None or request.state is not State.AWAITING_VERIFICATION:
                return codes.Outcome.EXHAUSTED
            stored = codes.Challenge(row.hash, row.expires_at, row.attempts_left)
            outcome, after = codes.check(stored, code, now, self.keys.derive("email-proof"))
            # Compare-and-set on attempts_left: two parallel guesses cannot both spend one attempt.
            done = conn.execute(
                challenges.update()
                .where(
                    challenges.c.request_id == request_id,
                    challenges.c.attempts_left == row.attempts_left,
                )
                .values(attempts_left=after.attempts_left)
            ).rowcount
            if done != 1:
                return codes.Outcome.WRONG
        if outcome is codes.Outcome.PASSED:
            info = self.details(request_id).but(email_proven=True)
            self._save(request_id, info)
            if self.next_step(request_id).name != "points":
                self._verified(request_id, info, method="email_code", matched=0)
        return outcome

    def resend_code(self, request_id: str) -> bool:
        """Send a fresh code (the old one stops working); False once the cap is reached."""
        now = self.clock()
        request = self.store.get(request_id)
        if request.state is not State.AWAITING_VERIFICATION:
            return False
        info = self.details(request_id)
        code, challenge = codes.issue_code(now, self.keys.derive("email-proof"))
        with self.store.audit.transaction() as conn:
            done = conn.execute(
                challenges.update()
                .where(challenges.c.request_id == request_id, challenges.c.issued < MAX_CODES)
                .values(
                    hash=challenge.hash,
                    expires_at=challenge.expires_at,
                    attempts_left=challenge.attempts_left,
                    issued=challenges.c.issued + 1,
                )
            ).rowcount
            if done != 1:
                return False
            self._send_code(conn, request_id, info, code, challenge, now)
        return True

    def _send_code(
        self,
        conn: sa.Connection,
        request_id: str,
        info: Details,
        code: str,
        challenge: codes.Challenge,
        now: dt.datetime,
    ) -> None:
        # The link opens the status page with the code filled in; a click there
        # confirms. A GET never spends the code, so a mail scanner following
        # links cannot use it up.
        link = f"{self.status_url(request_id)}?code={code}"
        self.outbox.queue(
            mail.verification(
                info.contact,
                letterhead=self.letterhead,
                expires_in=challenge.expires_at - now,
                code=code,
                link=link,
            ),
            at=now,
            request_id=request_id,
            conn=conn,
        )

    def check_points(
        self, request_id: str, supplied: dict[str, str], *, declaration_signed: bool = False
    ) -> str:
        """Match the details a requester gave; the plain-words answer they are shown (P18)."""
        request = self.store.get(request_id)
        info = self.details(request_id)
        step = self.next_step(request_id)
        if step.name != "points":
            raise DeskError("this request is not waiting for details")
        kind = Kind(request.kind)
        signed = declaration_signed or info.declaration_signed
        records = self._records(info)
        contested = self._contested(info) if kind is Kind.CORRECT else ()
        verdict = verify_points(
            kind,
            {k: v for k, v in supplied.items() if k in self.policy.verification_points},
            records,
            points={k: PointType(p.type) for k, p in self.policy.verification_points.items()},
            declaration_signed=signed,
            sensitive=self.policy.sensitive_deletion,
            contested=contested,
        )
        info = info.but(
            points_attempts=info.points_attempts + 1,
            declaration_signed=signed,
            last_reason=verdict.reason,
        )
        if verdict.verified:
            info = info.but(matched=tuple(verdict.matched))
            self._save(request_id, info)
            self._verified(
                request_id, info, method="email_code+data_points", matched=len(verdict.matched)
            )
            return verdict.reason
        if verdict.downgrade_to is not None:
            # §7024(a): a request for specific pieces that cannot be verified is
            # answered as a request for categories.
            info = info.but(answer_as=verdict.downgrade_to.value, matched=tuple(verdict.matched))
            self._save(request_id, info)
            self._verified(
                request_id, info, method="email_code+data_points", matched=len(verdict.matched)
            )
            return verdict.reason
        self._save(request_id, info)
        self._failed(request_id, verdict.reason)
        if info.points_attempts >= MAX_POINT_ATTEMPTS:
            self.deny(
                request_id, actor="system", reason=DenialReason.UNVERIFIED, note=verdict.reason
            )
        return verdict.reason

    def verify_by_staff(self, request_id: str, *, actor: str, method: str = "phone") -> None:
        """Staff verified the person themselves, by phone for someone without e-mail."""
        info = self.details(request_id)
        self._verified(request_id, info, method=f"staff_{method}", matched=0, actor=actor)

    def _verified(
        self, request_id: str, info: Details, *, method: str, matched: int, actor: str = "consumer"
    ) -> None:
        request = self.store.get(request_id)
        if info.agent_email and not self.agent_check(request, info).ready:
            return  # the status page and the console say what the agent still owes
        if self._awaits_confirmation(request, info) and not actor.startswith("staff:"):
            # Proven, but a deletion online is confirmed separately (§7022(d), seed P17).
            self._save(request_id, info.but(proven_by=method))
            return
        self.store.move(
            request_id,
            State.VERIFIED,
            actor=actor,
            at=self.clock(),
            method=method,
            data_points=matched,
        )
        if self.answered_as(request, info).value in self.policy.auto_approve:
            self._start(request_id, actor="system")

    def _awaits_confirmation(self, request: Request, info: Details) -> bool:
        return (
            self.answered_as(request, info) is Kind.DELETE
            and request.channel is Channel.WEB
            and not info.action_confirmed
        )

    def confirm_action(self, request_id: str) -> None:
        """The requester confirms, after proving who they are, that they want the deletion.

        CCPA regs §7022(d): an online request to delete may be submitted and then
        confirmed separately. Until then nothing is deleted; the request can lapse.
        """
        request = self.store.get(request_id)
        info = self.details(request_id)
        if request.state is not State.AWAITING_VERIFICATION or not info.proven_by:
            raise DeskError("this request is not waiting for a confirmation")
        confirmed = info.but(action_confirmed=True)
        self._save(request_id, confirmed)
        self._verified(request_id, confirmed, method=info.proven_by, matched=len(info.matched))

    # --- Staff decisions -----------------------------------------------------------

    def approve(self, request_id: str, *, actor: str) -> None:
        request = self.store.get(request_id)
        if request.state is not State.VERIFIED:
            raise DeskError("only a verified request can be approved")
        self._start(request_id, actor=actor)

    def deny(self, request_id: str, *, actor: str, reason: DenialReason, note: str = "") -> None:
        now = self.clock()
        request = self.store.get(request_id)
        info = self.details(request_id)

        def tell(conn: sa.Connection) -> None:
            message = mail.denial(
                info.contact,
                kind=request.kind,
                reason=DENIAL_WORDS[reason],
                letterhead=self.letterhead,
                reference=request_id,
                status=self.status_url(request_id),
            )
            self.outbox.queue(message, at=now, request_id=request_id, conn=conn)

        self.store.move(
            request_id, State.DENIED, actor=actor, at=now, reason=reason, note=note, also=tell
        )

    def extend(self, request_id: str, *, actor: str, reason: str) -> Request:
        """Take the one extension, telling the person why within the first period (§7021(b))."""
        now = self.clock()
        request = self.store.get(request_id)
        info = self.details(request_id)

        def tell(conn: sa.Connection, extended: Request) -> None:
            assert extended.respond_by is not None
            message = mail.extension(
                info.contact,
                kind=request.kind,
                respond_by=self._day(extended.respond_by),
                reason=reason,
                letterhead=self.letterhead,
                reference=request_id,
                status=self.status_url(request_id),
            )
            self.outbox.queue(message, at=now, request_id=request_id, conn=conn)

        return self.store.extend(
            request_id,
            actor=actor,
            at=now,
            reason=reason,
            rules=self.rules(request.jurisdiction),
            tz=self.tz,
            also=tell,
        )

    def add_note(self, request_id: str, *, actor: str, text: str) -> None:
        text = text.strip()
        if not text or len(text) > 5000:
            raise DeskError("a note is 1 to 5000 characters")
        self.store.get(request_id)
        now = self.clock()
        with self.store.audit.transaction() as conn:
            conn.execute(
                notes.insert(),
                {"request_id": request_id, "at": now, "author": actor, "text": text},
            )
            self.store.audit.append_in(conn, NoteAdded(actor=actor, subject_ref=request_id), at=now)

    def _note_failure(self, request_id: str, exc: CovenantError) -> None:
        text = f"Fulfilment stopped: {exc.message}"[:5000]
        if any(n.text == text for n in self.notes(request_id)[-5:]):
            return  # a retry failing the same way is not news
        self.add_note(request_id, actor="system", text=text)

    def notes(self, request_id: str) -> list[Note]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(notes).where(notes.c.request_id == request_id).order_by(notes.c.id)
            ).all()
        return [Note(r.at, r.author, r.text) for r in rows]

    # --- Authorized agents (CCPA regs §7063) ------------------------------------------

    def agent_check(self, request: Request, info: Details) -> AgentCheck:
        rules = self.policy.agents
        policy = AgentPolicy(
            signed_permission=rules.signed_permission,
            consumer_step=ConsumerStep(rules.consumer_step),
        )
        evidence = AgentEvidence(
            agent_identified=info.email_proven,
            signed_permission=info.agent_permission,
            consumer_confirmed=info.consumer_confirmed,
        )
        return check_agent(request.kind, evidence, policy)

    def record_agent_evidence(
        self,
        request_id: str,
        *,
        actor: str,
        permission: bool = False,
        consumer_confirmed: bool = False,
    ) -> None:
        """Staff saw the signed permission, or the consumer confirmed directly; re-check."""
        info = self.details(request_id)
        info = info.but(
            agent_permission=info.agent_permission or permission,
            consumer_confirmed=info.consumer_confirmed or consumer_confirmed,
        )
        self._save(request_id, info)
        request = self.store.get(request_id)
        points_done = bool(info.matched) or info.answer_as is not None
        points_done |= not self.policy.verification_points
        ready = info.email_proven and points_done and self.agent_check(request, info).ready
        if request.state is State.AWAITING_VERIFICATION and ready:
            self._verified(
                request_id, info, method="agent_evidence", matched=len(info.matched), actor=actor
            )

    def _asks_consumer(self, kind: Kind) -> bool:
        """Whether the consumer is written to directly about an agent's request (§7063(a))."""
        step = self.policy.agents.consumer_step
        return not kind.is_opt_out and step in ("confirm", "verify_or_confirm")

    def confirm_token(self, request_id: str) -> str:
        return _mac(self.keys.derive("status-link"), "confirm:" + request_id)

    def consumer_confirms(self, request_id: str, token: str) -> None:
        """The consumer followed the link mailed to them: they gave the agent permission."""
        if not _same(token, self.confirm_token(request_id)):
            raise NotFound()
        self.record_agent_evidence(request_id, actor="consumer", consumer_confirmed=True)

    # --- Fulfilment ------------------------------------------------------------------

    def _start(self, request_id: str, *, actor: str) -> None:
        self.store.move(request_id, State.IN_PROGRESS, actor=actor, at=self.clock())
        if self.queue is not None:
            self.queue.defer_fulfilment(request_id)

    def pending_fulfilment(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(sa.text("id"))
                .select_from(sa.table("requests"))
                .where(sa.column("state") == State.IN_PROGRESS.value)
            ).all()
        return [r[0] for r in rows]

    def fulfil(self, request_id: str) -> None:
        """Run the engine for an in-progress request, record what it did, then complete it.

        Idempotent, and safe in two workers at once: see the module docstring.
        Raises when the engine fails (the request stays in progress, to be
        retried); an erasure that cannot be proven is such a failure.
        """
        request = self.store.get(request_id)
        if request.state is not State.IN_PROGRESS:
            return
        info = self.details(request_id)
        kind = self.answered_as(request, info)
        identities = self._identities(info)
        try:
            with Session(self.loaded, shared=self._connectors) as session:
                summary, package = fulfilment.run(
                    session,
                    kind,
                    identities,
                    info,
                    request_id=request_id,
                    scratch=self.files_dir,
                    opt_out=lambda topics: self._opt_out(request_id, info, topics),
                )
        except CovenantError as exc:
            # Staff see why in the console; the job is retried. The message is
            # Covenant's own (a missing key, an unreachable database, an
            # erasure not proven), never the person's data.
            self._note_failure(request_id, exc)
            raise
        try:
            self._record(request_id, summary, package)
        finally:
            if package is not None:
                package.unlink(missing_ok=True)
        if info.about_minor:
            self._known_minor(request_id, info)
        if kind is Kind.DELETE:
            self._erasure_proven(request_id, summary)
            self._open_tasks(request_id, summary)
        self._complete_if_done(request_id)

    def _erasure_proven(self, request_id: str, summary: fulfilment.Summary) -> None:
        """The audit trail's record that re-reading proved the erasure: counts, never values."""
        collections = summary.get("collections", [])
        erased = {
            c["collection"]: int(c["deleted"]) + int(c["masked"])
            for c in collections
            if c["deleted"] or c["masked"]
        }
        held = {c["collection"]: int(c["held"]) for c in collections if c["held"]}
        event = ErasureVerified(actor="system", subject_ref=request_id, erased=erased, held=held)
        self.store.audit.append(event, at=self.clock())

    def _known_minor(self, request_id: str, info: Details) -> None:
        """A verified request about a child: the ledger knows them as under the minimum age,
        so no marketing or sale consent is ever kept for them (seeds P12, H2)."""
        engine = ConsentEngine(ConsentLedger(self.engine), self.loaded.declaration)
        ref = self.subject_ref(info.email)
        if any(r.kind.value == "minor" for r in engine.ledger.subject_history(ref)):
            return  # a retried fulfilment records it once
        engine.mark_minor(subject_ref=ref, method=Method.FORM, proof={"request": request_id})

    def _opt_out(self, request_id: str, info: Details, topics: list[Topic]) -> None:
        engine = ConsentEngine(ConsentLedger(self.engine), self.loaded.declaration)
        engine.record(
            Choices(
                choices=[(t, Choice.DENIED) for t in topics],
                method=Method.FORM,
                notice_version=str(self.loaded.declaration.organization.effective_date),
                subject_ref=self.subject_ref(info.email),
                evidence={"request": request_id},
            )
        )

    def _record(self, request_id: str, summary: dict[str, Any], package: Path | None) -> None:
        """Keep the result and the encrypted package; a second run keeps the first one's."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(results.delete().where(results.c.request_id == request_id))
                conn.execute(
                    results.insert(), {"request_id": request_id, "summary": summary, "at": now}
                )
        except sa.exc.IntegrityError:
            pass  # a concurrent run recorded the same result
        if package is not None:
            self.packages.keep(request_id, package, days=self.policy.delivery_days)

    def _complete_if_done(self, request_id: str) -> None:
        open_tasks = [t for t in self.tasks(request_id) if t.done_at is None]
        if open_tasks:
            return
        request = self.store.get(request_id)
        if request.state is not State.IN_PROGRESS:
            return
        now = self.clock()
        info = self.details(request_id)
        link = self.packages.link(request_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(deliveries.c.expires_at).where(deliveries.c.request_id == request_id)
            ).one_or_none()

        def tell(conn: sa.Connection) -> None:
            answered = self.answered_as(request, info)
            message = mail.completion(
                info.contact,
                kind=answered,
                letterhead=self.letterhead,
                download=link if row is not None else None,
                download_expires_in=(row.expires_at - now) if row is not None and link else None,
                note=fulfilment.completion_note(
                    request.kind, answered, self.result(request_id) or {}
                ),
                reference=request_id,
                status=self.status_url(request_id),
            )
            self.outbox.queue(message, at=now, request_id=request_id, conn=conn)

        try:
            self.store.move(request_id, State.COMPLETED, actor="system", at=now, also=tell)
        except DeskError:
            raise
        except CovenantError:
            if not self.store.get(request_id).state.final:
                raise  # not a lost race: something else is wrong

    # --- Manual tasks (CCPA §1798.105(c), regs §7022(b)) -----------------------------

    def _open_tasks(self, request_id: str, summary: fulfilment.Summary) -> None:
        wanted = fulfilment.manual_tasks(self.loaded, summary)
        with self.engine.begin() as conn:
            have = {
                r.target
                for r in conn.execute(
                    sa.select(tasks.c.target).where(tasks.c.request_id == request_id)
                )
            }
            new = [
                {"request_id": request_id, "target": t, "target_kind": k, "checklist": c}
                for t, k, c in wanted
                if t not in have
            ]
            if new:
                conn.execute(tasks.insert(), new)

    def tasks(self, request_id: str) -> list[Task]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(tasks).where(tasks.c.request_id == request_id).order_by(tasks.c.id)
            ).all()
        return [
            Task(r.id, r.target, r.target_kind, list(r.checklist), r.done_at, r.done_by, r.evidence)
            for r in rows
        ]

    def complete_task(self, task_id: int, *, actor: str, evidence: str) -> None:
        evidence = evidence.strip()
        if not evidence or len(evidence) > 5000:
            raise DeskError("say what was done, as evidence (1 to 5000 characters)")
        now = self.clock()
        with self.store.audit.transaction() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).one_or_none()
            if row is None:
                raise NotFound()
            done = conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id, tasks.c.done_at.is_(None))
                .values(done_at=now, done_by=actor, evidence=evidence)
            ).rowcount
            if done:  # doing it twice records it once
                event = TaskCompleted(actor=actor, subject_ref=row.request_id, target=row.target)
                self.store.audit.append_in(conn, event, at=now)
        self._complete_if_done(row.request_id)

    # --- Delivery ------------------------------------------------------------------

    def download(self, request_id: str, token: str) -> tuple[Iterator[bytes], str]:
        """The package, decrypted as it streams, and its file name; refused after expiry."""
        try:
            return self.packages.download(request_id, token)
        except LinkRefused as exc:
            raise NotFound(exc.message) from None

    def document(self, request_id: str, number: int) -> tuple[Iterator[bytes], str]:
        """A document sent with the request, decrypted as it streams, and its media type."""
        kept = self.details(request_id).documents
        if not 0 <= number < len(kept):
            raise NotFound()
        doc = kept[number]
        key = base64.b64decode(str(doc["key"]))
        return files.decrypt_stream(self.files_dir / str(doc["file"]), key), str(doc["media_type"])

    def delivered(self, request_id: str) -> Delivered | None:
        return self.packages.delivered(request_id)

    def expire(self) -> int:
        """Delete expired packages and the details of requests past their record period."""
        now = self.clock()
        with self.engine.begin() as conn:
            purged = conn.execute(
                details.update()
                .where(details.c.purge_after <= now, details.c.sealed != "")
                .values(sealed="", email_ref=None)
            ).rowcount
        return self.packages.expire() + purged

    # --- Reading ---------------------------------------------------------------------

    def details(self, request_id: str) -> Details:
        with self.engine.connect() as conn:
            sealed = conn.execute(
                sa.select(details.c.sealed).where(details.c.request_id == request_id)
            ).scalar_one_or_none()
        if not sealed:
            raise NotFound()
        data = self.sealer.open_text(sealed)
        return Details.from_json(data)

    def result(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            summary = conn.execute(
                sa.select(results.c.summary).where(results.c.request_id == request_id)
            ).scalar_one_or_none()
        return dict(summary) if summary is not None else None

    def next_step(self, request_id: str) -> Step:
        request = self.store.get(request_id)
        if request.state.final:
            return Step("done", [])
        if request.state in (State.VERIFIED, State.IN_PROGRESS):
            return Step("wait", [])
        info = self.details(request_id)
        if not info.email_proven:
            return Step("code", [])
        kind = Kind(request.kind)
        need_points = kind.needs_verification and self.policy.verification_points
        if need_points and not info.matched and info.answer_as is None:
            need = requirement(kind, sensitive=self.policy.sensitive_deletion)
            contested = set(self._contested(info)) if kind is Kind.CORRECT else set()
            points = [
                (name, p.label)
                for name, p in self.policy.verification_points.items()
                if name not in contested
            ]
            return Step(
                "points", points, needs_declaration=need.declaration and not info.declaration_signed
            )
        if info.agent_email and not self.agent_check(request, info).ready:
            return Step("agent", [])
        if info.proven_by and self._awaits_confirmation(request, info):
            return Step("confirm", [])
        return Step("wait", [])

    def answered_as(self, request: Request, info: Details) -> Kind:
        return Kind(info.answer_as) if info.answer_as else Kind(request.kind)

    # --- Helpers ---------------------------------------------------------------------

    def rules(self, jurisdiction: str) -> DeadlineRules:
        base = DEFAULT_RULES.get(jurisdiction) or (
            DEFAULT_RULES["us-ca"] if jurisdiction.startswith("us") else DEFAULT_RULES["eu"]
        )
        return rules_from_mapping(self.policy.deadlines.get(jurisdiction, {}), base=base)

    def subject_ref(self, email: str) -> str:
        """The opaque reference for a person known by this e-mail (a keyed hash)."""
        return _mac(self.keys.derive("subject-ref"), email.strip().lower())[:64]

    def status_token(self, request_id: str) -> str:
        return _mac(self.keys.derive("status-link"), "status:" + request_id)

    def check_status(self, request_id: str, token: str) -> Request:
        if len(request_id) > 64 or not _same(token, self.status_token(request_id)):
            raise NotFound()
        try:
            return self.store.get(request_id)
        except CovenantError:
            raise NotFound() from None

    def status_url(self, request_id: str) -> str:
        return f"{self.public_url}/privacy/requests/{request_id}/{self.status_token(request_id)}"

    def _identities(self, info: Details) -> Identities:
        pairs = [("email", info.email)]
        if info.phone:
            pairs.append(("phone", info.phone))
        known = {i.key for i in self.loaded.declaration.identities}
        pairs = [(k, v) for k, v in pairs if k in known]
        return normalize(pairs, self.loaded.catalog, self.loaded.declaration.identities)

    def correctable_fields(self) -> list[tuple[str, str]]:
        """Fields a person may ask to correct, with labels: their own contact and name details."""
        out = []
        for key, coll in self.loaded.catalog.collections.items():
            for f in coll.fields.values():
                if any(c.startswith(("user.contact", "user.name")) for c in f.categories):
                    label = f.name.replace("_", " ").capitalize()
                    out.append((f"{key}.{f.name}", f"{label} ({key.split('.', 1)[1]})"))
        return out

    def point_values(self, email: str) -> dict[str, list[Any]]:
        """The store's values of the verification points for a person known by ``email``.

        For staff and the demo; never shown to a requester.
        """
        return self._records(Details(email=email, contact=email))

    def _records(self, info: Details) -> dict[str, Any]:
        ids = self._identities(info)
        with Session(self.loaded, shared=self._connectors) as session:
            return point_values(session, ids, self.policy.verification_points)

    def _contested(self, info: Details) -> list[str]:
        fields = set(info.corrections)
        return [n for n, p in self.policy.verification_points.items() if p.field in fields]

    def _failed(self, request_id: str, reason: str) -> None:

        self.store.audit.append(
            VerificationFailed(
                actor="consumer", subject_ref=request_id, method="data_points", reason=reason[:500]
            ),
            at=self.clock(),
        )

    def _save(self, request_id: str, info: Details) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                details.update()
                .where(details.c.request_id == request_id)
                .values(sealed=self.sealer.seal(info.to_json()))
            )

    def _day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def _local(self, moment: dt.datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()


def _mac(key: bytes, text: str) -> str:

    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _same(given: str, expected: str) -> bool:

    return len(given) < 128 and hmac.compare_digest(given.encode(), expected.encode())


def _months_after(moment: dt.datetime, months: int) -> dt.datetime:

    day = add_months(moment.date(), months)
    return dt.datetime.combine(day, moment.timetz())
