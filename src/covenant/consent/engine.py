"""The consent engine: records choices and answers the store's questions.

Owns the use cases that need both the ledger and the rules: recording a
submission (with the GPC signal and the age rule applied), linking a device
to a person, and the questions "may I use this for X?", "may I e-mail this
person?", "which of these people may get marketing?", and the receipt.
It never speaks HTTP (:mod:`covenant.consent.web` does) and never writes SQL
(:mod:`covenant.consent.ledger` does).

Questions read only what :func:`~covenant.consent.decisions.decide` looks at (the
newest choice about the topic, and whether a minor flag exists), through
:meth:`ConsentLedger.newest` and :meth:`ConsentLedger.standings`; ``decide`` stays
the one place the rules live. ``tests/test_consent_ledger.py`` checks, on random
ledgers, that these answers equal ``decide`` over the whole history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from covenant.consent.batch import BatchedReader
from covenant.consent.decisions import Decision, Nature, Policy, decide, known_minor, latest
from covenant.consent.ledger import NO_STANDING, ConsentLedger, Standing
from covenant.consent.receipt import receipt
from covenant.consent.records import (
    Choice,
    ConsentError,
    ConsentRecord,
    Draft,
    Kind,
    Method,
    Scalar,
    Topic,
    evidence,
    jurisdiction,
)
from covenant.consent.signals import NO_SIGNALS, Signals
from covenant.declaration.model import Declaration


class ConsentRefused(ConsentError):
    """The choice was not recorded."""

    status = 409


@dataclass(frozen=True, slots=True)
class Submission:
    """One submission of choices: a banner click, a form, a contest entry, a staff entry."""

    choices: Sequence[tuple[Topic, Choice]]
    method: Method
    notice_version: str
    subject_ref: str | None = None
    consent_id: str | None = None
    jurisdiction: str | None = None
    evidence: dict[str, Scalar] = field(default_factory=dict)


class ConsentEngine:
    """``batched``, when given, answers :meth:`may_use_async` (PostgreSQL's service path)."""

    def __init__(
        self,
        ledger: ConsentLedger,
        declaration: Declaration,
        *,
        batched: BatchedReader | None = None,
    ) -> None:
        self.ledger = ledger
        self.declaration = declaration
        self.policy = Policy.from_declaration(declaration)
        self.batched = batched

    def record(
        self, submission: Submission, *, signals: Signals = NO_SIGNALS
    ) -> list[ConsentRecord]:
        """Append the submission's choices, then any opt-out its GPC signal implies."""
        where = self.where(submission.jurisdiction)
        if submission.method is Method.GPC and not signals.gpc:
            raise ConsentError("method gpc is recorded from a Sec-GPC header, and there is none")
        for topic, _ in submission.choices:
            self.policy.nature(topic)  # unknown purposes are refused before anything is written
        if not submission.choices and not signals.gpc:
            raise ConsentError("nothing to record: no choices and no GPC signal")
        grants_marketing = any(
            choice is Choice.GRANTED and self.policy.nature(topic) in _NO_MINORS
            for topic, choice in submission.choices
        )
        shared = [t for t, n in sorted(self.policy.natures.items()) if n is Nature.SALE_OR_SHARING]
        # Only the minor flag and the newest sale/sharing choices matter below: read them,
        # and only when a rule below will look at them.
        history = (
            self.ledger.newest(
                shared, subject_ref=submission.subject_ref, consent_id=submission.consent_id
            )
            if grants_marketing or signals.gpc
            else []
        )
        if grants_marketing and known_minor(history):
            # Seeds P12, H2: no marketing consent is taken from, or kept for, known minors.
            raise ConsentRefused(
                f"not recorded: known to be under {self.policy.minimum_age}, the minimum age"
            )
        proof = evidence({**submission.evidence, **({"gpc": True} if signals.gpc else {})})

        def draft(topic: Topic, choice: Choice, method: Method) -> Draft:
            return Draft(
                kind=Kind.CHOICE,
                method=method,
                jurisdiction=where,
                subject_ref=submission.subject_ref,
                consent_id=submission.consent_id,
                topic=topic,
                choice=choice,
                notice_version=submission.notice_version,
                evidence=proof,
            )

        drafts = [draft(topic, choice, submission.method) for topic, choice in submission.choices]
        if signals.gpc:
            # CCPA regulations §7025(c)(1): the signal is an opt-out of sale/sharing for this
            # browser and any profile tied to it. Written after the submitted choices, so it is
            # the newest record and wins a conflicting grant (§7025(c)(3)); written only when the
            # current state is not already an opt-out, since the header comes with every request.
            submitted = dict(submission.choices)
            for topic in shared:
                current = submitted.get(topic)
                if current is None and (last := latest(history, topic)) is not None:
                    current = last.choice
                if current in (None, Choice.GRANTED):
                    drafts.append(draft(topic, Choice.DENIED, Method.GPC))
        return self.ledger.append(drafts) if drafts else []

    def link(
        self,
        *,
        subject_ref: str,
        consent_id: str,
        method: Method,
        jurisdiction: str | None = None,
        proof: dict[str, Scalar] | None = None,
    ) -> ConsentRecord:
        """Tie a device to the person who signed in or was verified on it; itself a record."""
        (written,) = self.ledger.append(
            [
                Draft(
                    kind=Kind.LINK,
                    method=method,
                    jurisdiction=self.where(jurisdiction),
                    subject_ref=subject_ref,
                    consent_id=consent_id,
                    evidence=evidence(proof or {}),
                )
            ]
        )
        return written

    def mark_minor(
        self,
        *,
        subject_ref: str | None = None,
        consent_id: str | None = None,
        method: Method,
        jurisdiction: str | None = None,
        proof: dict[str, Scalar] | None = None,
    ) -> ConsentRecord:
        """Record that the person or device is known to be under the minimum age.

        Only the fact is kept, never a birth date: the age gate that learned it
        is the store's, and data minimisation (GDPR Art. 5(1)(c)) keeps the date there.
        """
        (written,) = self.ledger.append(
            [
                Draft(
                    kind=Kind.MINOR,
                    method=method,
                    jurisdiction=self.where(jurisdiction),
                    subject_ref=subject_ref,
                    consent_id=consent_id,
                    evidence=evidence(proof or {}),
                )
            ]
        )
        return written

    def may_use(
        self,
        topic: Topic,
        *,
        subject_ref: str | None = None,
        consent_id: str | None = None,
        jurisdiction: str | None = None,
        signals: Signals = NO_SIGNALS,
    ) -> Decision:
        """May the data of this person or device (or both, once linked) be used for ``topic``?"""
        where = self._question(topic, subject_ref, consent_id, jurisdiction)
        records = (
            []
            if self.policy.nature(topic) is Nature.NECESSARY  # decide() reads no record
            else self.ledger.newest([topic], subject_ref=subject_ref, consent_id=consent_id)
        )
        return decide(records, topic, policy=self.policy, jurisdiction=where, signals=signals)

    async def may_use_async(
        self,
        topic: Topic,
        *,
        subject_ref: str | None = None,
        consent_id: str | None = None,
        jurisdiction: str | None = None,
        signals: Signals = NO_SIGNALS,
    ) -> Decision:
        """:meth:`may_use`, for the event loop: read in a batch with other questions where
        a :class:`BatchedReader` is set, else the same one-statement read as ``may_use``
        (SQLite and MariaDB: short, local, and run in place)."""
        if self.batched is None:
            return self.may_use(
                topic,
                subject_ref=subject_ref,
                consent_id=consent_id,
                jurisdiction=jurisdiction,
                signals=signals,
            )
        where = self._question(topic, subject_ref, consent_id, jurisdiction)
        records = (
            []
            if self.policy.nature(topic) is Nature.NECESSARY
            else await self.batched.newest(topic, subject_ref=subject_ref, consent_id=consent_id)
        )
        return decide(records, topic, policy=self.policy, jurisdiction=where, signals=signals)

    async def may_email_async(
        self, subject_ref: str, *, jurisdiction: str | None = None
    ) -> Decision:
        """:meth:`may_email`, for the event loop (see :meth:`may_use_async`)."""
        return await self.may_use_async(
            self._email_topic(), subject_ref=subject_ref, jurisdiction=jurisdiction
        )

    def _question(
        self, topic: Topic, subject_ref: str | None, consent_id: str | None, where: str | None
    ) -> str:
        """Check a question before anything is read; the jurisdiction it is asked in."""
        if subject_ref is None and consent_id is None:
            raise ConsentError("ask about a subject, a consent ID, or both")
        self.policy.nature(topic)  # an undeclared purpose is refused without a query
        return self.where(where)

    def may_email(self, subject_ref: str, *, jurisdiction: str | None = None) -> Decision:
        """May this person receive marketing e-mail?"""
        return self.may_use(self._email_topic(), subject_ref=subject_ref, jurisdiction=jurisdiction)

    def marketable(
        self, subject_refs: Iterable[str], *, jurisdiction: str | None = None
    ) -> Iterator[str]:
        """The ``subject_refs`` that may receive marketing e-mail, in input order, streamed.

        Reads the ledger a chunk at a time, one query per chunk that returns each
        person's standing (minor flag, newest choice) rather than their records, so
        memory stays flat for any input size. The store passes the same opaque
        references it records with (for e-mail, typically a keyed hash of the address).
        """
        topic = self._email_topic()
        verdict = self._verdicts(topic, self.where(jurisdiction))
        chunk: list[str] = []
        for ref in subject_refs:
            chunk.append(ref)
            if len(chunk) == self.ledger.chunk_size:
                yield from self._marketable(chunk, topic, verdict)
                chunk = []
        if chunk:
            yield from self._marketable(chunk, topic, verdict)

    def receipt(self, subject_ref: str) -> dict[str, object] | None:
        return receipt(
            subject_ref,
            self.ledger.subject_history(subject_ref),
            declaration=self.declaration,
            policy=self.policy,
        )

    def _marketable(
        self, chunk: list[str], topic: Topic, verdict: Callable[[Standing], bool]
    ) -> Iterator[str]:
        standings = self.ledger.standings(chunk, topic)
        for ref in chunk:
            if verdict(standings.get(ref, NO_STANDING)):
                yield ref

    def _verdicts(self, topic: Topic, where: str) -> Callable[[Standing], bool]:
        """Whether ``decide`` allows ``topic`` for a standing: ``decide`` itself, on the
        smallest history with that standing, with no signals, remembered.

        Exact: without signals, ``decide`` reads only whether a minor flag exists and
        the newest choice about the topic, and whether it allows depends on that
        choice's value, not on its time, place or method. There are eight standings;
        the bulk filter asks millions of times.
        """
        known: dict[Standing, bool] = {}

        def verdict(standing: Standing) -> bool:
            if (allowed := known.get(standing)) is None:
                history = _exemplar(standing, topic)
                allowed = decide(history, topic, policy=self.policy, jurisdiction=where).allowed
                known[standing] = allowed
            return allowed

        return verdict

    def history(self, subject_ref: str | None, consent_id: str | None) -> list[ConsentRecord]:
        """Every record that bears on the person, the device, or both, oldest first."""
        found: dict[int, ConsentRecord] = {}
        if subject_ref is not None:
            found.update((r.seq, r) for r in self.ledger.subject_history(subject_ref))
        if consent_id is not None:
            found.update((r.seq, r) for r in self.ledger.device_history(consent_id))
        return sorted(found.values(), key=lambda r: r.order)

    def where(self, value: str | None) -> str:
        """The jurisdiction code to apply: ``value``, or the declaration's first."""
        return jurisdiction(value or self.policy.default_jurisdiction)

    def _email_topic(self) -> Topic:
        if self.policy.email_topic is None:
            raise ConsentError(
                "the declaration has no purpose with data use marketing.communications(.email)"
            )
        return self.policy.email_topic


_NO_MINORS = {Nature.MARKETING, Nature.COMMUNICATIONS, Nature.SALE_OR_SHARING}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _exemplar(standing: Standing, topic: Topic) -> list[ConsentRecord]:
    records: list[ConsentRecord] = []
    if standing.minor:
        flag = Draft(kind=Kind.MINOR, method=Method.API, jurisdiction="eu", subject_ref="-")
        records.append(ConsentRecord(seq=1, at=_EPOCH, draft=flag))
    if standing.choice is not None:
        choice = Draft(
            kind=Kind.CHOICE,
            method=Method.API,
            jurisdiction="eu",
            subject_ref="-",
            topic=topic,
            choice=standing.choice,
        )
        records.append(ConsentRecord(seq=2, at=_EPOCH, draft=choice))
    return records
