"""The California tables: fideslang categories mapped onto the CCPA's enumerated categories.

Cal. Civ. Code §1798.110(c) and §1798.130(a)(5)(B), with Cal. Code Regs. tit. 11
§7011(e)(1), ask a privacy policy to list, for the preceding 12 months, the
categories of personal information collected (with examples), their sources,
the business purposes, and the categories of recipients each category was
disclosed to. The categories must be those of §1798.140(v)(1)(A)-(L), plus
sensitive personal information (§1798.140(ae)). This module owns that mapping
and builds the four tables from :class:`~covenant.notice.facts.Facts`. It never
invents a row: a category appears only when a declared field or source carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from covenant.declaration.model import Recipient
from covenant.notice import words
from covenant.notice.facts import Facts


@dataclass(frozen=True, slots=True)
class CcpaCategory:
    key: str
    title: str
    statute: str


CATEGORIES: tuple[CcpaCategory, ...] = (
    CcpaCategory("identifiers", "Identifiers", "§1798.140(v)(1)(A)"),
    CcpaCategory("customer_records", "Customer records", "§1798.140(v)(1)(B), §1798.80(e)"),
    CcpaCategory("protected", "Characteristics of protected classifications", "§1798.140(v)(1)(C)"),
    CcpaCategory("commercial", "Commercial information", "§1798.140(v)(1)(D)"),
    CcpaCategory("biometric", "Biometric information", "§1798.140(v)(1)(E)"),
    CcpaCategory("internet", "Internet or other electronic network activity", "§1798.140(v)(1)(F)"),
    CcpaCategory("geolocation", "Geolocation data", "§1798.140(v)(1)(G)"),
    CcpaCategory(
        "sensory", "Audio, electronic, visual or similar information", "§1798.140(v)(1)(H)"
    ),
    CcpaCategory(
        "professional", "Professional or employment-related information", "§1798.140(v)(1)(I)"
    ),
    CcpaCategory("education", "Education information", "§1798.140(v)(1)(J)"),
    CcpaCategory("inferences", "Inferences drawn to create a profile", "§1798.140(v)(1)(K)"),
    CcpaCategory("sensitive", "Sensitive personal information", "§1798.140(ae)"),
)
BY_KEY = {c.key: c for c in CATEGORIES}

# The longest matching prefix decides. A fideslang category may fall in more than
# one CCPA category: a precise location is geolocation data and also sensitive.
PREFIXES: dict[str, tuple[str, ...]] = {
    "user": ("identifiers",),
    "user.account": ("identifiers",),
    "user.account.settings": ("internet",),
    "user.authorization": ("sensitive",),
    "user.behavior": ("internet",),
    "user.behavior.purchase_history": ("commercial",),
    "user.biometric": ("biometric", "sensitive"),
    "user.biometric.voice": ("biometric", "sensory", "sensitive"),
    "user.childrens": ("identifiers",),
    "user.contact": ("identifiers",),
    "user.contact.phone_number": ("identifiers", "customer_records"),
    "user.content": ("commercial",),
    "user.content.self_image": ("sensory",),
    "user.criminal_history": ("customer_records",),
    "user.demographic": ("protected",),
    "user.demographic.language": ("internet",),
    "user.demographic.profile": ("inferences",),
    "user.demographic.political_opinion": ("protected", "sensitive"),
    "user.demographic.race_ethnicity": ("protected", "sensitive"),
    "user.demographic.religious_belief": ("protected", "sensitive"),
    "user.demographic.sexual_orientation": ("protected", "sensitive"),
    "user.device": ("internet",),
    "user.device.device_id": ("identifiers",),
    "user.device.ip_address": ("identifiers", "internet"),
    "user.device.cookie_id": ("identifiers", "internet"),
    "user.financial": ("customer_records",),
    "user.financial.bank_account": ("customer_records", "sensitive"),
    "user.government_id": ("identifiers", "sensitive"),
    "user.health_and_medical": ("customer_records", "sensitive"),
    "user.job_title": ("professional",),
    "user.location": ("geolocation",),
    "user.location.precise": ("geolocation", "sensitive"),
    "user.name": ("identifiers",),
    "user.payment": ("customer_records",),
    "user.privacy_preferences": ("commercial",),
    "user.sensor": ("sensory",),
    "user.social": ("internet",),
    "user.telemetry": ("internet",),
    "user.unique_id": ("identifiers",),
    "user.user_sensor": ("sensory",),
    "user.workplace": ("professional",),
}

RECIPIENT_KINDS: dict[str, str] = {
    "service_provider": "service providers",
    "contractor": "contractors",
    "carrier": "delivery carriers (service providers)",
    "affiliate": "affiliated companies",
    "third_party": "third parties",
    "authority": "government authorities, as the law requires",
}


def ccpa_of(category: str) -> tuple[str, ...]:
    """The CCPA categories a fideslang category falls in."""
    parts = category.split(".")
    for n in range(len(parts), 0, -1):
        found = PREFIXES.get(".".join(parts[:n]))
        if found is not None:
            return found
    return ()


@dataclass(frozen=True)
class Row:
    category: CcpaCategory
    examples: list[str]
    purposes: list[str]
    sources: list[str]
    recipients: list[str]


def rows(facts: Facts) -> list[Row]:
    """One row per CCPA category the store collects, in the statute's order."""
    members: dict[str, set[str]] = {}
    for cat in facts.categories:
        for key in ccpa_of(cat):
            members.setdefault(key, set()).add(cat)
    out = []
    for ccpa in CATEGORIES:
        cats = members.get(ccpa.key)
        if not cats:
            continue
        purposes = _ordered(p.name for c in sorted(cats) for p in facts.purposes_of(c))
        sources = _ordered(s.name for c in sorted(cats) for s in facts.sources_of(c))
        kinds = _ordered(
            RECIPIENT_KINDS[r.type]
            for r in facts.declaration.recipients
            if cats & facts.received(r)
        )
        out.append(Row(ccpa, facts.labels(cats), purposes, sources, kinds))
    return out


def titles_for(facts: Facts, recipients: list[Recipient]) -> list[str]:
    """The CCPA categories (titles, statute order) that ``recipients`` receive."""
    got = {key for r in recipients for c in facts.received(r) for key in ccpa_of(c)}
    return [c.title.lower() for c in CATEGORIES if c.key in got]


def sensitive(facts: Facts) -> list[str]:
    """Plain names of the sensitive personal information collected (§1798.140(ae))."""
    return facts.labels([c for c in facts.categories if "sensitive" in ccpa_of(c)])


def _ordered(items: Iterable[str]) -> list[str]:
    """Deduplicate, keeping the declaration's order (it is the store's own emphasis)."""
    return list(dict.fromkeys(items))


def describe(row: Row) -> str:
    return f"{row.category.title}, such as {words.join(row.examples)}"
