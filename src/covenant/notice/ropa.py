"""The record of processing activities (GDPR Art. 30(1)), one row per purpose.

Art. 30(1) asks the controller to record: (a) its name and contact details;
(b) the purposes of the processing; (c) the categories of data subjects and of
personal data; (d) the categories of recipients, including those in third
countries; (e) transfers to third countries and their safeguards; (f) where
possible, the time limits for erasure; (g) where possible, a general
description of the security measures of Art. 32(1). Each column below names
its letter. A third country is any place outside the EU/EEA (Art. 44).

Pure: :func:`rows` and :func:`to_csv` build text in memory; the XLSX writer is
:mod:`covenant.notice.ropa_xlsx`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from covenant.declaration import Loaded
from covenant.declaration.model import Purpose
from covenant.notice import words
from covenant.notice.facts import EEA, Facts

COLUMNS: tuple[tuple[str, str], ...] = (
    ("controller", "Controller (a)"),
    ("contact", "Controller contact details (a)"),
    ("activity", "Processing activity (b)"),
    ("purpose", "Purpose of the processing (b)"),
    ("legal_basis", "Legal basis (Art. 6)"),
    ("subjects", "Categories of data subjects (c)"),
    ("data", "Categories of personal data (c)"),
    ("recipients", "Categories of recipients (d)"),
    ("third_country_recipients", "Recipients in third countries (d)"),
    ("transfers", "Transfers to third countries (e)"),
    ("safeguards", "Transfer safeguards (e)"),
    ("erasure", "Time limits for erasure (f)"),
    ("security", "Technical and organisational security measures (g)"),
    ("systems", "Systems"),
)


@dataclass(frozen=True)
class Controller:
    name: str
    contact: str
    lines: tuple[tuple[str, str], ...]
    """Label and value, for the XLSX controller sheet."""


def controller(facts: Facts) -> Controller:
    org = facts.declaration.organization
    c = org.contacts
    lines = [
        ("Controller", org.controller),
        ("Trading name", org.name),
        ("Privacy e-mail", c.privacy_email),
        ("Privacy phone", c.privacy_phone or ""),
        ("Postal address", c.postal_address or ""),
        ("Request form", c.web_form or ""),
        ("Security contact", c.security_email or ""),
        ("Record as of", org.effective_date.isoformat()),
    ]
    contact = "; ".join(v for k, v in lines[2:6] if v)
    return Controller(org.controller, contact, tuple((k, v) for k, v in lines if v))


def rows(loaded: Loaded) -> list[dict[str, str]]:
    facts = Facts(loaded)
    ctl = controller(facts)
    security = "\n".join(facts.declaration.security.measures) or "Not described"
    return [
        {
            "controller": ctl.name,
            "contact": ctl.contact,
            "activity": p.name,
            "purpose": p.description,
            "legal_basis": p.legal_basis,
            "subjects": ", ".join(s.name for s in facts.subjects_of(p.collections))
            or "Not declared",
            "data": ", ".join(facts.labels(facts.purpose_categories(p))),
            "recipients": _recipients(facts, p),
            "third_country_recipients": _third_country_recipients(facts, p),
            "transfers": _transfers(facts, p),
            "safeguards": _safeguards(facts, p),
            "erasure": _erasure(facts, p),
            "security": security,
            "systems": ", ".join(name for name, _, _ in _systems(facts, p)),
        }
        for p in facts.declaration.purposes
    ]


def to_csv(loaded: Loaded) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow([title for _, title in COLUMNS])
    for row in rows(loaded):
        writer.writerow([row[key] for key, _ in COLUMNS])
    return out.getvalue()


def _recipients_for(facts: Facts, p: Purpose) -> list[tuple[str, str, list[str], str]]:
    """(name, type, locations, safeguards) of recipients that receive data for ``p``."""
    return [
        (r.name, r.type, r.locations, r.safeguards)
        for r in facts.declaration.recipients
        if p.key in r.purposes
    ]


def _systems(facts: Facts, p: Purpose) -> list[tuple[str, list[str], str]]:
    wanted = {
        facts.catalog.collections[k].system for k in p.collections if k in facts.catalog.collections
    }
    return [
        (s.name, s.locations, s.safeguards) for s in facts.declaration.systems if s.key in wanted
    ]


def _recipients(facts: Facts, p: Purpose) -> str:
    got = _recipients_for(facts, p)
    if not got:
        return "None"
    return "; ".join(f"{n} ({words.RECIPIENT_TYPE_SINGULAR[t]})" for n, t, _, _ in got)


def _third(locations: list[str]) -> list[str]:
    return [loc for loc in locations if loc.upper() not in EEA]


def _third_country_recipients(facts: Facts, p: Purpose) -> str:
    out = [
        f"{n} ({', '.join(words.place(x) for x in _third(locs))})"
        for n, _, locs, _ in _recipients_for(facts, p)
        if _third(locs)
    ]
    return "; ".join(out) or "None"


def _transfers(facts: Facts, p: Purpose) -> str:
    places: dict[str, list[str]] = {}
    holders = [(n, locs) for n, locs, _ in _systems(facts, p)]
    holders += [(n, locs) for n, _, locs, _ in _recipients_for(facts, p)]
    for name, locs in holders:
        for loc in _third(locs):
            places.setdefault(words.place(loc), []).append(name)
    return "; ".join(f"{words.upper_first(k)}: {', '.join(v)}" for k, v in places.items()) or "None"


def _safeguards(facts: Facts, p: Purpose) -> str:
    found = [(n, s) for n, locs, s in _systems(facts, p) if _third(locs)]
    found += [(n, s) for n, _, locs, s in _recipients_for(facts, p) if _third(locs)]
    if not found:
        return "Not applicable"
    return "; ".join(f"{n}: {s or 'none declared'}" for n, s in found)


def _erasure(facts: Facts, p: Purpose) -> str:
    mine = set(p.collections)
    parts = []
    for r in facts.declaration.retention:
        hit = [c for c in r.collections if c in mine]
        if hit:
            names = ", ".join(facts.collection_name(c) for c in hit)
            kept = "kept" if r.hold else "at most"
            parts.append(
                f"{names}: {kept} {words.duration(r.duration)} from {facts.anchor_words(r)}, "
                f"then {r.action}"
            )
    for k in facts.declaration.kept_until:
        hit = [c for c in k.collections if c in mine]
        if hit:
            names = ", ".join(facts.collection_name(c) for c in hit)
            bound = f" (at most {words.duration(k.at_most)})" if k.at_most else ""
            parts.append(f"{names}: until {k.event}{bound}, then {k.action}")
    return "; ".join(parts) or "Not declared"
