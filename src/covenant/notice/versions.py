"""Statement versions: what each one promised, what changed, and whether the change is material.

A version keeps a *snapshot*: the facts a person relies on (categories collected,
purposes, recipients and what they get, sale and sharing, retention, places,
minimum age, signals, contacts). Two snapshots are compared key by key and the
differences are told in words ("added category: precise location"). A change
is material when it adds a category, a purpose, a recipient (or a category a
recipient gets), a sale or sharing: that is when people are told, and asked
again for consent where the store says so (seed P23). Pure code: storing
versions is :mod:`covenant.notice.store`'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from covenant.notice import words
from covenant.notice.facts import Facts

Snapshot = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    text: str
    material: bool


@dataclass(frozen=True)
class Version:
    number: int
    effective_date: str
    """ISO date the version takes effect."""
    published_at: str
    """ISO timestamp (UTC) of publication."""
    digest: str
    """SHA-256 of the snapshot and the statement text: equal digests, same statement."""
    material: bool
    changes: tuple[Change, ...]
    snapshot: Snapshot = field(repr=False)
    text: str = field(default="", repr=False)
    """The statement as Markdown, as it was published."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "effective_date": self.effective_date,
            "published_at": self.published_at,
            "digest": self.digest,
            "material": self.material,
            "changes": [{"text": c.text, "material": c.material} for c in self.changes],
            "snapshot": self.snapshot,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Version:
        return cls(
            number=int(data["number"]),
            effective_date=str(data["effective_date"]),
            published_at=str(data["published_at"]),
            digest=str(data["digest"]),
            material=bool(data["material"]),
            changes=tuple(Change(str(c["text"]), bool(c["material"])) for c in data["changes"]),
            snapshot=dict(data["snapshot"]),
            text=str(data.get("text", "")),
        )


def snapshot(facts: Facts) -> Snapshot:
    """The facts a reader relies on, as plain JSON-ready data with sorted keys."""
    d = facts.declaration
    org = d.organization
    return {
        "effective_date": org.effective_date.isoformat(),
        "controller": org.controller,
        "contacts": org.contacts.model_dump(exclude_none=True),
        "categories": {c: facts.label(c) for c in facts.categories},
        "purposes": {p.key: {"name": p.name, "data_use": p.data_use} for p in d.purposes},
        "recipients": {
            r.key: {
                "name": r.name,
                "type": r.type,
                "categories": sorted(facts.received(r)),
                "never": sorted(r.forbidden_categories),
                "locations": sorted(r.locations),
                "sale": r.sale,
                "share": r.share,
            }
            for r in d.recipients
        },
        "trackers": {
            t.key: {"name": t.name, "vendor": t.vendor, "category": t.category} for t in d.trackers
        },
        "retention": _retention(facts),
        "places": sorted(facts.places()),
        "sells": facts.sells,
        "shares": facts.shares,
        "minimum_age": org.minimum_age,
        "dnt": org.dnt,
        "gpc": org.gpc,
    }


def _retention(facts: Facts) -> dict[str, str]:
    out = {}
    for r in facts.declaration.retention:
        kept = "kept" if r.hold else "at most"
        out[r.key] = f"{kept} {words.duration(r.duration)}, then {r.action}"
    for k in facts.declaration.kept_until:
        bound = f", at most {words.duration(k.at_most)}" if k.at_most else ""
        out[k.key] = f"until {k.event}{bound}, then {k.action}"
    return out


def digest(snap: Snapshot, text: str) -> str:
    canonical = json.dumps(snap, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((canonical + "\n" + text).encode("utf-8")).hexdigest()


def diff(old: Snapshot, new: Snapshot) -> list[Change]:
    """What changed from ``old`` to ``new``, in words, material changes first."""
    changes = [
        *_keyed(old, new, "categories", "category", material_added=True),
        *_keyed(old, new, "purposes", "purpose", material_added=True),
        *_purpose_uses(old, new),
        *_recipients(old, new),
        *_flag(old, new, "sells", "now sells personal information", "no longer sells"),
        *_flag(old, new, "shares", "now shares personal information", "no longer shares"),
        *_keyed(old, new, "trackers", "tracker", material_added=False),
        *_keyed(old, new, "retention", "retention rule", material_added=False),
        *_scalars(old, new),
    ]
    return sorted(changes, key=lambda c: not c.material)


def _name(value: Any) -> str:
    return str(value["name"]) if isinstance(value, dict) else str(value)


def _keyed(old: Snapshot, new: Snapshot, key: str, noun: str, material_added: bool) -> list[Change]:
    before: dict[str, Any] = old.get(key, {})
    after: dict[str, Any] = new.get(key, {})
    out = [
        Change(f"added {noun}: {_name(after[k])}", material_added) for k in after if k not in before
    ]
    out += [Change(f"removed {noun}: {_name(before[k])}", False) for k in before if k not in after]
    if key == "retention":
        out += [
            Change(f"retention rule '{k}' changed: {before[k]} → {after[k]}", False)
            for k in after
            if k in before and before[k] != after[k]
        ]
    return out


def _purpose_uses(old: Snapshot, new: Snapshot) -> list[Change]:
    before, after = old.get("purposes", {}), new.get("purposes", {})
    return [
        Change(f"purpose {after[k]['name']} now used for: {after[k]['data_use']}", True)
        for k in after
        if k in before and before[k]["data_use"] != after[k]["data_use"]
    ]


def _recipients(old: Snapshot, new: Snapshot) -> list[Change]:
    before: dict[str, Any] = old.get("recipients", {})
    after: dict[str, Any] = new.get("recipients", {})
    names = {**old.get("categories", {}), **new.get("categories", {})}

    def said(keys: list[str]) -> str:
        return ", ".join(sorted({str(names.get(k, k)) for k in keys}))

    out = []
    for k, r in after.items():
        kind = words.RECIPIENT_TYPE_SINGULAR.get(r["type"], r["type"])
        if k not in before:
            out.append(Change(f"new recipient: {r['name']} ({kind})", True))
            continue
        prev = before[k]
        added = sorted(set(r["categories"]) - set(prev["categories"]))
        if added:
            out.append(Change(f"{r['name']} now receives: {said(added)}", True))
        dropped = sorted(set(prev["categories"]) - set(r["categories"]))
        if dropped:
            out.append(Change(f"{r['name']} no longer receives: {said(dropped)}", False))
        if r["type"] != prev["type"]:
            out.append(Change(f"{r['name']} is now a {kind}", True))
        for flag, verb in (("sale", "sold to"), ("share", "shared with")):
            if r[flag] and not prev[flag]:
                out.append(Change(f"data is now {verb} {r['name']}", True))
        new_places = sorted(set(r["locations"]) - set(prev["locations"]))
        if new_places:
            out.append(Change(f"{r['name']} now processes data in: {', '.join(new_places)}", False))
    out += [
        Change(f"removed recipient: {r['name']}", False)
        for k, r in before.items()
        if k not in after
    ]
    return out


def _flag(old: Snapshot, new: Snapshot, key: str, on: str, off: str) -> list[Change]:
    if new.get(key) and not old.get(key):
        return [Change(f"{on}: yes", True)]
    if old.get(key) and not new.get(key):
        return [Change(off, False)]
    return []


def _scalars(old: Snapshot, new: Snapshot) -> list[Change]:
    out = []
    for key, noun in (
        ("minimum_age", "minimum age"),
        ("dnt", "Do Not Track"),
        ("gpc", "Global Privacy Control"),
        ("controller", "controller"),
    ):
        if old.get(key) != new.get(key):
            out.append(Change(f"{noun}: {old.get(key)} → {new.get(key)}", False))
    added = sorted(set(new.get("places", [])) - set(old.get("places", [])))
    if added:
        out.append(Change("data now also processed in: " + ", ".join(added), False))
    if old.get("contacts") != new.get("contacts"):
        out.append(Change("contact details changed", False))
    return out


def latest_material(versions: Sequence[Version]) -> Version | None:
    return next((v for v in reversed(versions) if v.material), None)


def needs_reconsent(accepted: int | None, versions: Sequence[Version]) -> bool:
    """True when a person accepted version ``accepted`` (or none) before the latest material one.

    The consent component asks this at sign-in when the store re-asks for consent
    after material changes (``statement.reconsent_on_material_change``).
    """
    last = latest_material(versions)
    if last is None:
        return False
    return accepted is None or accepted < last.number
