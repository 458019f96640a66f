"""Re-consent at sign-in after a material change to the privacy statement (seed P23).

Owns two questions the store's login flow asks:

- *Must this person be asked again?* Yes when the statement version their newest
  own choice cites is older than the latest material version, and the declaration
  asks again after material changes (``statement.reconsent_on_material_change``).
  A consent given for one statement does not cover purposes, recipients or sales
  it did not describe (GDPR Art. 7(2), Art. 4(11): "specific, informed").
- *What does the answer write?* An acceptance renews the grants that stand today,
  citing the new version, plus any choices asked for on the page; it never grants
  anything the person had not granted (seed P5: marketing stays opt-in). A refusal
  withdraws every grant and refuses every topic that needs consent or allows an
  opt-out, citing the new version. Either way the answer is on record, so the
  person is not asked again for the same version.

Pure: records and versions come in, choices go out; :mod:`covenant.consent.adtech_web`
reads and writes through the consent engine. Only the person's *own* records count:
a choice made on a device before it was tied to them may have been someone else's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from covenant.consent.decisions import Nature, Policy, decide, latest
from covenant.consent.records import Choice, ConsentError, ConsentRecord, Kind, Topic
from covenant.notice.versions import Version, latest_material, needs_reconsent

ACKNOWLEDGED = Topic("category", "strictly_necessary")
"""Where an acceptance that renews no grant is recorded. Strictly necessary uses are
always allowed, so a grant here changes no decision; it only proves the answer."""

_ASKED = {
    Nature.ORDINARY,
    Nature.ANALYTICS,
    Nature.MARKETING,
    Nature.COMMUNICATIONS,
    Nature.SALE_OR_SHARING,
}
"""The natures a refusal covers: those that rest on consent or allow an opt-out.
Legitimate interest is left alone: an objection is its own right (GDPR Art. 21),
and declining a statement is not one."""

_NUMBER = re.compile(r"^[0-9]{1,9}$")


class StatementChanged(ConsentError):
    """The statement changed since the page was shown: check again and show the new one."""

    status = 409


class NothingPublished(ConsentError):
    """No statement version is published, so there is nothing to accept or decline."""

    status = 409


@dataclass(frozen=True, slots=True)
class LoginCheck:
    reconsent_needed: bool
    statement_version: int | None
    """The latest published version: what the person is asked to accept."""
    accepted_version: int | None
    """The version the person's newest own choice cites; None when it cites none."""
    changes: tuple[str, ...]
    reason: str


def accepted_version(records: Iterable[ConsentRecord], subject_ref: str) -> int | None:
    """The statement version cited by the person's newest own choice.

    ``notice_version`` holds a published version's number; before anything is
    published the banner cites the effective date instead, which is older than
    every published version, so it counts as none.
    """
    own = [r for r in records if r.kind is Kind.CHOICE and r.draft.subject_ref == subject_ref]
    newest = max(own, key=lambda r: r.order, default=None)
    if newest is None or not _NUMBER.match(newest.draft.notice_version):
        return None
    return int(newest.draft.notice_version)


def login_check(
    records: Sequence[ConsentRecord],
    subject_ref: str,
    versions: Sequence[Version],
    *,
    asks_again: bool,
) -> LoginCheck:
    """Whether the login flow must ask this person about the statement again, and what changed."""
    ordered = sorted(versions, key=lambda v: v.number)
    current = ordered[-1].number if ordered else None
    accepted = accepted_version(records, subject_ref)
    material = latest_material(ordered)

    def answer(needed: bool, reason: str) -> LoginCheck:
        changes = _changes(ordered, accepted) if needed else ()
        return LoginCheck(needed, current, accepted, changes, reason)

    if material is None:
        return answer(False, "No material change has been published.")
    if not asks_again:
        return answer(
            False,
            "The declaration does not ask again after material changes "
            "(statement.reconsent_on_material_change is false).",
        )
    if not needs_reconsent(accepted, ordered):
        return answer(False, f"The newest choice cites version {accepted}, after the change.")
    cited = "no published version" if accepted is None else f"version {accepted}"
    return answer(
        True,
        f"Version {material.number} changed the statement materially; "
        f"the newest choice cites {cited}.",
    )


def answer_choices(
    records: Sequence[ConsentRecord],
    *,
    policy: Policy,
    jurisdiction: str,
    accepted: bool,
    asked: Sequence[tuple[Topic, Choice]] = (),
) -> list[tuple[Topic, Choice]]:
    """The choices the person's answer writes; see the module docstring for the rules."""
    if not accepted:
        if asked:
            raise ConsentError("a declined statement takes no choices")
        return [(topic, _refusal(records, topic)) for topic in _refused_topics(policy)]
    chosen = dict(asked)
    renewed = [
        (topic, Choice.GRANTED)
        for topic in sorted(policy.natures)
        if topic not in chosen
        and decide(records, topic, policy=policy, jurisdiction=jurisdiction).basis == "granted"
    ]
    return [*renewed, *chosen.items()] or [(ACKNOWLEDGED, Choice.GRANTED)]


def check_version(given: int, versions: Sequence[Version]) -> None:
    """The answer must be about the latest version: a page shown before a newer
    publication would otherwise record consent to a statement the person never saw."""
    if not versions:
        raise NothingPublished()
    current = max(v.number for v in versions)
    if given != current:
        raise StatementChanged(
            f"the answer is about version {given}, but version {current} is the latest"
        )


def _refused_topics(policy: Policy) -> list[Topic]:
    return sorted(t for t, n in policy.natures.items() if n in _ASKED)


def _refusal(records: Sequence[ConsentRecord], topic: Topic) -> Choice:
    last = latest(records, topic)
    # GDPR Art. 7(3): taking back a grant is a withdrawal; refusing anew is a denial.
    return Choice.WITHDRAWN if last is not None and last.choice is Choice.GRANTED else Choice.DENIED


def _changes(versions: Sequence[Version], accepted: int | None) -> tuple[str, ...]:
    """What changed since the accepted version, in the words each newer version was
    published with (the diff told in the change notice), material changes first."""
    later = [v for v in versions if v.number > (accepted or 1)]
    found = sorted((c for v in later for c in v.changes), key=lambda c: not c.material)
    return tuple(dict.fromkeys(c.text for c in found))
