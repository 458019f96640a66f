"""Ad-tech privacy strings: the IAB U.S. Privacy string (CCPA), from the declaration and a ledger.

Owns turning what Covenant knows (where the person is, whether a statement is
published, the person's or device's sale and sharing decisions) into the
four-character string ad-tech vendors read, exactly as the IAB "U.S. Privacy
String" specification, version 1.0, defines it:

=========  ==========================================  ========================
position   component                                   values
=========  ==========================================  ========================
1          Specification version                        ``1``
2          Explicit notice / opportunity to opt out      ``Y``, ``N``, ``-``
3          Opt-out sale                                  ``Y``, ``N``, ``-``
4          LSPA covered transaction                      ``Y``, ``N``, ``-``
=========  ==========================================  ========================

Where the consumer is not within a U.S. privacy jurisdiction the string is
``1---`` (spec, "US Privacy String Format"); where CCPA applies, position 3 is
only ever ``Y`` or ``N`` (same section). Pure: it takes decisions already made by
:func:`covenant.consent.decisions.decide` and never reads a database.

The GPP ``usnat`` section (GPP section 7) is deliberately not produced: see
docs/adtech.md for why a string built from this declaration could not be exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from covenant.consent.decisions import Decision, Nature, Policy
from covenant.consent.records import Topic

SPEC_VERSION = 1
NOT_APPLICABLE = f"{SPEC_VERSION}---"
"""The string for a consumer outside any U.S. privacy jurisdiction."""

US_JURISDICTIONS = ("us", "us-ca")
"""Declared jurisdiction codes under which the CCPA may apply. ``us`` is a U.S. visitor
whose state is unknown: the store has not determined they are outside California,
so the spec's "1---" (a determination that they are) would be wrong."""


@dataclass(frozen=True, slots=True)
class UsPrivacy:
    """The string, and why each position has its value, for the API's answer."""

    usp_string: str
    reason: str

    @property
    def applies(self) -> bool:
        return self.usp_string != NOT_APPLICABLE


def sale_topics(policy: Policy) -> list[Topic]:
    """The topics a CCPA opt-out of sale (and, since the CPRA, sharing) covers: every
    declared purpose and tracker category of nature sale-or-sharing (Civ. Code
    §1798.120, §1798.135). The order is stable, so reasons read the same each time."""
    return sorted(t for t, n in policy.natures.items() if n is Nature.SALE_OR_SHARING)


def ccpa_applies(jurisdiction: str, declared: Sequence[str]) -> bool:
    """True when the store declares a U.S. jurisdiction and the question is asked under one."""
    return jurisdiction in US_JURISDICTIONS and any(j in US_JURISDICTIONS for j in declared)


def us_privacy(
    *,
    jurisdiction: str,
    declared: Sequence[str],
    statement_version: int | None,
    sale_decisions: Sequence[tuple[Topic, Decision]],
    lspa_covered: bool = False,
) -> UsPrivacy:
    """The U.S. Privacy string for one person or device.

    - Position 2, notice: ``Y`` when a statement version is published (it carries the
      notice at collection, §1798.100(b), and the right to opt out, §1798.120 and
      §1798.135: the generated statement always does), else ``N``.
    - Position 3, opt-out sale: ``Y`` when any sale-or-sharing topic is refused for this
      person or device, whatever refused it (a Global Privacy Control signal, a recorded
      opt-out or withdrawal, a known minor: §1798.120(c)); else ``N``.
    - Position 4, LSPA: ``Y`` only when the store declares itself an IAB Limited Service
      Provider Agreement signatory treating the transaction as covered.
    """
    if not ccpa_applies(jurisdiction, declared):
        return UsPrivacy(
            NOT_APPLICABLE,
            f"CCPA does not apply under jurisdiction {jurisdiction!r} "
            f"(declared: {', '.join(declared)}).",
        )
    refused = [(topic, d) for topic, d in sale_decisions if not d.allowed]
    notice = statement_version is not None
    why = [
        f"CCPA applies ({jurisdiction}).",
        f"Notice given: statement version {statement_version} is published."
        if notice
        else "No notice: no statement version is published yet.",
    ]
    if refused:
        topic, decision = refused[0]
        why.append(f"Opted out of sale and sharing: {topic} refused ({decision.basis}).")
    elif sale_decisions:
        why.append("Not opted out: every sale or sharing topic is allowed.")
    else:
        why.append("Not opted out: the declaration sells or shares for nothing.")
    why.append(
        "LSPA covered transaction." if lspa_covered else "Not declared an LSPA covered transaction."
    )
    flags = "".join(_flag(v) for v in (notice, bool(refused), lspa_covered))
    return UsPrivacy(f"{SPEC_VERSION}{flags}", " ".join(why))


def _flag(value: bool) -> str:
    return "Y" if value else "N"
