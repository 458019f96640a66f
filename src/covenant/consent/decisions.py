"""Whether a use of someone's data is allowed, answered from their records and the declaration.

Owns the rules, in the order they apply:

1. Strictly necessary uses (fideslang ``essential.*``, the tracker category
   ``strictly_necessary``, a purpose declared on contract or legal obligation)
   need no consent and are always allowed.
2. Known minors, under the declaration's ``minimum_age``, get no marketing or
   advertising (seeds P12, H2), whatever else was recorded.
3. A Global Privacy Control signal on the request denies sale, sharing and
   targeted advertising (CCPA regulations §7025(b), (c)(1)); a conflicting grant
   on record does not override it (§7025(c)(3)).
4. ``DNT: 1`` denies analytics and advertising, only when the declaration says
   DNT is honoured (seeds P22, H20: the statement tells the truth either way).
5. The latest choice on record decides: a newer withdrawal beats an older grant
   (GDPR Art. 7(3)).
6. With no record: marketing communications need an opt-in everywhere (seed P5
   promises opt-in marketing); a purpose on legitimate interest runs until an
   objection (GDPR Art. 21); otherwise US jurisdictions are opt-out (allowed)
   and all others opt-in (denied: GDPR Art. 6(1)(a), ePrivacy Art. 5(3)).

Pure: it takes records already read and never touches a database, so every
rule is tested without one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from covenant.consent.records import Choice, ConsentError, ConsentRecord, Kind, Topic
from covenant.consent.signals import NO_SIGNALS, Signals
from covenant.declaration.model import Declaration


class Nature(StrEnum):
    """How the rules treat a topic, derived from the declaration."""

    NECESSARY = "necessary"
    ORDINARY = "ordinary"
    """Analytics, functional, personalization: consent or opt-out by jurisdiction."""
    ANALYTICS = "analytics"
    """Ordinary, but tracking that an honoured DNT stops."""
    MARKETING = "marketing"
    """Marketing that is neither e-mail-like communication nor advertising."""
    COMMUNICATIONS = "communications"
    """Marketing messages: e-mail, SMS, post, phone. Opt-in everywhere."""
    SALE_OR_SHARING = "sale_or_sharing"
    """Sale, sharing, cross-context targeted advertising: what GPC opts out of."""
    LEGITIMATE_INTEREST = "legitimate_interest"
    """Runs without consent everywhere until the person objects (GDPR Art. 21)."""


_MARKETING = {Nature.MARKETING, Nature.COMMUNICATIONS, Nature.SALE_OR_SHARING}
_TRACKING = {Nature.ANALYTICS, Nature.SALE_OR_SHARING}
_CATEGORY_NATURE = {
    "strictly_necessary": Nature.NECESSARY,
    "functional": Nature.ORDINARY,
    "analytics": Nature.ANALYTICS,
    # Third-party advertising trackers follow people across sites: "sharing" in
    # the CPRA's sense (Civ. Code §1798.140(ah)), and what GPC targets.
    "advertising": Nature.SALE_OR_SHARING,
}


def nature_of_use(data_use: str, *, legal_basis: str = "", sold_or_shared: bool = False) -> Nature:
    """The nature of a purpose from its fideslang data use and declared legal basis.

    ``sold_or_shared`` when a recipient buys or shares data for it. Marketing,
    sale/sharing and analytics keep their own rules whatever basis is declared; otherwise a purpose
    resting on contract or legal obligation (GDPR Art. 6(1)(b), (c)) needs no consent,
    and one on legitimate interest (Art. 6(1)(f)) runs until the person objects (Art. 21).
    """
    parts = data_use.split(".")
    basis = legal_basis.strip().lower()
    if data_use == "third_party_sharing.legal_obligation" or parts[0] == "essential":
        return Nature.NECESSARY
    # Remembering the choice itself is exempt from consent (ePrivacy Art. 5(3),
    # "strictly necessary" for the service the person asked for: honouring the choice).
    if data_use == "functional.storage.privacy_preferences":
        return Nature.NECESSARY
    if (
        sold_or_shared
        or parts[0] == "third_party_sharing"
        or parts[:2] == ["marketing", "advertising"]
    ):
        return Nature.SALE_OR_SHARING
    if parts[:2] == ["marketing", "communications"]:
        return Nature.COMMUNICATIONS
    if parts[0] == "marketing":
        return Nature.MARKETING
    # Analytics reads the device (ePrivacy Art. 5(3)): consent where the law asks for it,
    # whatever GDPR basis the processing that follows rests on.
    if parts[0] == "analytics":
        return Nature.ANALYTICS
    if basis.startswith(("contract", "legal obligation")):
        return Nature.NECESSARY
    if basis.startswith("legitimate interest"):
        return Nature.LEGITIMATE_INTEREST
    return Nature.ORDINARY


@dataclass(frozen=True, slots=True)
class Policy:
    """What the declaration says that decisions need, extracted once at start."""

    natures: Mapping[Topic, Nature]
    minimum_age: int
    dnt_honoured: bool
    default_jurisdiction: str
    email_topic: Topic | None
    """The purpose ``may_email`` asks about: ``marketing.communications.email``, else
    ``marketing.communications``; None when the store declares no e-mail marketing."""

    @classmethod
    def from_declaration(cls, declaration: Declaration) -> Policy:
        shared = {
            purpose
            for recipient in declaration.recipients
            if recipient.sale or recipient.share
            for purpose in recipient.purposes
        }
        natures: dict[Topic, Nature] = {
            Topic("category", key): nature for key, nature in _CATEGORY_NATURE.items()
        }
        email: dict[str, Topic] = {}
        for purpose in declaration.purposes:
            topic = Topic("purpose", purpose.key)
            natures[topic] = nature_of_use(
                purpose.data_use,
                legal_basis=purpose.legal_basis,
                sold_or_shared=purpose.key in shared,
            )
            if purpose.data_use in ("marketing.communications.email", "marketing.communications"):
                email.setdefault(purpose.data_use, topic)
        org = declaration.organization
        return cls(
            natures=natures,
            minimum_age=org.minimum_age,
            dnt_honoured=org.dnt == "honoured",
            default_jurisdiction=org.jurisdictions[0],
            email_topic=email.get("marketing.communications.email")
            or email.get("marketing.communications"),
        )

    def nature(self, topic: Topic) -> Nature:
        try:
            return self.natures[topic]
        except KeyError:
            raise ConsentError(f"{topic.key!r} is not a declared purpose") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer, why, and the record it rests on (None when no record decided it)."""

    allowed: bool
    basis: str
    """A stable code: ``strictly_necessary``, ``known_minor``, ``gpc``, ``dnt``,
    ``granted``, ``denied``, ``withdrawn``, ``default_opt_in``, ``default_opt_out``."""
    reason: str
    record: int | None = None


def opt_out_regime(jurisdiction: str) -> bool:
    """US law lets most uses start without consent until the person opts out; elsewhere
    (EU, UK, Canada, India) consent comes first. Unknown codes get the stricter rule."""
    return jurisdiction == "us" or jurisdiction.startswith("us-")


def latest(records: Iterable[ConsentRecord], topic: Topic) -> ConsentRecord | None:
    """The newest choice record about ``topic``."""
    choices = [r for r in records if r.kind is Kind.CHOICE and r.topic == topic]
    return max(choices, key=lambda r: r.order, default=None)


def known_minor(records: Iterable[ConsentRecord]) -> bool:
    return any(r.kind is Kind.MINOR for r in records)


def decide(
    records: Iterable[ConsentRecord],
    topic: Topic,
    *,
    policy: Policy,
    jurisdiction: str,
    signals: Signals = NO_SIGNALS,
) -> Decision:
    """May the data of whoever ``records`` belong to be used for ``topic``? See the module rules."""
    nature = policy.nature(topic)
    history = list(records)
    if nature is Nature.NECESSARY:
        return Decision(True, "strictly_necessary", "Strictly necessary: no consent is needed.")
    if nature in _MARKETING and known_minor(history):
        return Decision(
            False,
            "known_minor",
            f"Known to be under {policy.minimum_age}, the minimum age: no marketing or advertising.",
        )
    if nature is Nature.SALE_OR_SHARING and signals.gpc:
        return Decision(
            False,
            "gpc",
            "Global Privacy Control is on: an opt-out of sale, sharing and targeted "
            "advertising (CCPA regulations §7025).",
        )
    if nature in _TRACKING and signals.dnt and policy.dnt_honoured:
        return Decision(False, "dnt", "Do Not Track is on, and this store honours it.")
    record = latest(history, topic)
    if record is not None:
        return _from_record(record)
    if nature is Nature.COMMUNICATIONS:
        return Decision(False, "default_opt_in", "Marketing messages need an opt-in first.")
    if nature is Nature.LEGITIMATE_INTEREST:
        return Decision(True, "default_opt_out", "Legitimate interest; no objection recorded.")
    if opt_out_regime(jurisdiction):
        return Decision(True, "default_opt_out", f"No opt-out recorded ({jurisdiction}: opt-out).")
    return Decision(False, "default_opt_in", f"No consent recorded ({jurisdiction}: opt-in).")


def _from_record(record: ConsentRecord) -> Decision:
    when = record.at.isoformat(timespec="seconds")
    method = record.draft.method.value
    match record.choice:
        case Choice.GRANTED:
            return Decision(True, "granted", f"Granted {when} ({method}).", record.seq)
        case Choice.WITHDRAWN:
            return Decision(
                False, "withdrawn", f"Withdrawn {when} ({method}); GDPR Art. 7(3).", record.seq
            )
        case _:
            return Decision(False, "denied", f"Refused {when} ({method}).", record.seq)
