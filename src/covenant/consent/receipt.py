"""A consent receipt the person can download, after the Kantara Consent Receipt v1.1.

Owns turning a subject's history and the declaration into the receipt's JSON
object, with the field names of Kantara Initiative Consent Receipt
Specification v1.1.0 (2018-02-20). Pure: no I/O. It never signs (``publicKey``
is left out until receipts are signed as a JWS) and never shows more than the
person's own opaque reference.

Deviations, on purpose: ``services[].purposes`` lists the purposes and tracker
categories the person currently agrees to (a receipt is proof of consent);
the full latest state of every topic, withdrawals included, is in the
extension member ``x-covenant-choices`` so a withdrawal is as visible as a
grant (GDPR Art. 7(3)).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from covenant.consent.decisions import Nature, Policy, latest
from covenant.consent.records import Choice, ConsentRecord, Kind, Topic
from covenant.declaration.model import Declaration

VERSION = "KI-CR-v1.1.0"
# Receipt IDs are UUIDv5 over the subject and the newest record, so the same
# history always yields the same ID and any new record yields a new one.
_NAMESPACE = uuid.UUID("5b1c3f52-8f0e-4d7e-9a51-3c0a7d2e6b14")
# GDPR Art. 9 special categories, as fideslang category prefixes.
_SENSITIVE = (
    "user.biometric",
    "user.genetic",
    "user.health_and_medical",
    "user.political_opinion",
    "user.religious_belief",
    "user.sexual_orientation",
    "user.race_ethnicity",
    "user.criminal_history",
)


def receipt(
    subject_ref: str,
    history: Sequence[ConsentRecord],
    *,
    declaration: Declaration,
    policy: Policy,
    language: str = "en",
) -> dict[str, object] | None:
    """The receipt for ``subject_ref`` from its ``history``; None when it has no choices."""
    choices = [r for r in history if r.kind is Kind.CHOICE]
    if not choices:
        return None
    newest = max(history, key=lambda r: r.order)
    topics = sorted({r.topic for r in choices if r.topic is not None})
    state = [record for topic in topics if (record := latest(choices, topic)) is not None]
    granted = [r for r in state if r.choice is Choice.GRANTED and r.topic is not None]
    org = declaration.organization
    purposes = [_purpose(r.topic, declaration, policy) for r in granted if r.topic is not None]
    spi = sorted(
        {
            category
            for record in granted
            if record.topic is not None
            for category in _categories(record.topic, declaration)
            if category.startswith(_SENSITIVE)
        }
    )
    return {
        "version": VERSION,
        "jurisdiction": newest.draft.jurisdiction,
        "consentTimestamp": int(newest.at.timestamp()),
        "collectionMethod": newest.draft.method.value,
        "consentReceiptID": str(uuid.uuid5(_NAMESPACE, f"{subject_ref}\x00{newest.seq}")),
        "language": language,
        "piiPrincipalId": subject_ref,
        "piiControllers": [
            {
                "piiController": org.controller,
                "contact": org.name,
                "address": org.contacts.postal_address or "",
                "email": org.contacts.privacy_email,
                "phone": org.contacts.privacy_phone or "",
                **({"piiControllerUrl": org.statement_url} if org.statement_url else {}),
            }
        ],
        "policyUrl": org.statement_url or "",
        "services": [{"service": org.name, "purposes": purposes}],
        "sensitive": bool(spi),
        "spiCat": spi,
        "x-covenant-choices": [
            {
                "topic": str(r.topic),
                "choice": r.draft.choice.value if r.draft.choice else None,
                "at": r.at.isoformat(),
                "method": r.draft.method.value,
                "noticeVersion": r.draft.notice_version,
                "jurisdiction": r.draft.jurisdiction,
            }
            for r in state
        ],
    }


def _purpose(topic: Topic, declaration: Declaration, policy: Policy) -> dict[str, object]:
    nature = policy.natures.get(topic, Nature.ORDINARY)
    names = [
        r.name
        for r in declaration.recipients
        if r.type in ("third_party", "affiliate") and topic.key in r.purposes
    ]
    if topic.kind == "category":
        trackers = [t for t in declaration.trackers if t.category == topic.key]
        return {
            "purpose": f"Cookies and similar technologies: {topic.key.replace('_', ' ')}",
            "purposeCategory": [f"tracker:{topic.key}"],
            "consentType": "EXPLICIT",
            "piiCategory": _categories(topic, declaration),
            "primaryPurpose": nature is Nature.NECESSARY,
            "termination": "; ".join(sorted({f"{t.name}: {t.lifetime}" for t in trackers}))
            or "until withdrawn",
            "thirdPartyDisclosure": any(
                t.vendor != declaration.organization.name for t in trackers
            ),
        }
    # A purpose since removed from the declaration still shows, by its key.
    purpose = next((p for p in declaration.purposes if p.key == topic.key), None)
    entry: dict[str, object] = {
        "purpose": purpose.name if purpose else topic.key,
        "purposeCategory": [purpose.data_use] if purpose else [],
        "consentType": "EXPLICIT",
        "piiCategory": _categories(topic, declaration),
        "primaryPurpose": nature is Nature.NECESSARY,
        "termination": "until withdrawn",
        "thirdPartyDisclosure": bool(names),
    }
    if names:
        entry["thirdPartyName"] = ", ".join(names)
    return entry


def _categories(topic: Topic, declaration: Declaration) -> list[str]:
    if topic.kind == "category":
        return ["user.device.cookie_id"]
    purpose = next((p for p in declaration.purposes if p.key == topic.key), None)
    return sorted(purpose.categories) if purpose else []
