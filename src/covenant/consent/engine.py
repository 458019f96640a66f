"""The consent engine: records choices and answers the store's questions.

Owns the use cases that need both the ledger and the rules: recording a
submission (with the GPC signal and the age rule applied), linking a device
to a person, and the questions "may I use this for X?", "may I e-mail this
person?", "which of these people may get marketing?", and the receipt.
It never speaks HTTP (:mod:`covenant.consent.web` does) and never writes SQL
(:mod:`covenant.consent.ledger` does).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from covenant.consent.decisions import Decision, Nature, Policy, decide, known_minor, latest
from covenant.consent.ledger import ConsentLedger
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
    def __init__(self, ledger: ConsentLedger, declaration: Declaration) -> None:
        self.ledger = ledger
        self.declaration = declaration
        self.policy = Policy.from_declaration(declaration)

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
        history = self._history(submission.subject_ref, submission.consent_id)
        if known_minor(history) and any(
            choice is Choice.GRANTED and self.policy.nature(topic) in _NO_MINORS
            for topic, choice in submission.choices
        ):
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
            for topic, nature in sorted(self.policy.natures.items()):
                if nature is not Nature.SALE_OR_SHARING:
                    continue
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
        if subject_ref is None and consent_id is None:
            raise ConsentError("ask about a subject, a consent ID, or both")
        return decide(
            self._history(subject_ref, consent_id),
            topic,
            policy=self.policy,
            jurisdiction=self.where(jurisdiction),
            signals=signals,
        )

    def may_email(self, subject_ref: str, *, jurisdiction: str | None = None) -> Decision:
        """May this person receive marketing e-mail?"""
        return self.may_use(self._email_topic(), subject_ref=subject_ref, jurisdiction=jurisdiction)

    def marketable(
        self, subject_refs: Iterable[str], *, jurisdiction: str | None = None
    ) -> Iterator[str]:
        """The ``subject_refs`` that may receive marketing e-mail, in input order, streamed.

        Reads the ledger a chunk at a time in a fixed number of queries per chunk,
        so memory stays flat for any input size. The store passes the same opaque
        references it records with (for e-mail, typically a keyed hash of the address).
        """
        topic = self._email_topic()
        where = self.where(jurisdiction)
        chunk: list[str] = []
        for ref in subject_refs:
            chunk.append(ref)
            if len(chunk) == self.ledger.chunk_size:
                yield from self._marketable(chunk, topic, where)
                chunk = []
        if chunk:
            yield from self._marketable(chunk, topic, where)

    def receipt(self, subject_ref: str) -> dict[str, object] | None:
        return receipt(
            subject_ref,
            self.ledger.subject_history(subject_ref),
            declaration=self.declaration,
            policy=self.policy,
        )

    def _marketable(self, chunk: list[str], topic: Topic, where: str) -> Iterator[str]:
        histories = self.ledger.subject_histories(chunk, [topic])
        for ref in chunk:
            if decide(
                histories.get(ref, []), topic, policy=self.policy, jurisdiction=where
            ).allowed:
                yield ref

    def _history(self, subject_ref: str | None, consent_id: str | None) -> list[ConsentRecord]:
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
