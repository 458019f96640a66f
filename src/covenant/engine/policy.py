"""What erasure does to each collection, resolved from the declaration. Pure code.

A collection is either deleted row by row (``delete``), kept whole (``keep``),
or updated field by field (the default), where each personal field is nulled,
rewritten to a fixed value, replaced by a keyed hash, or kept with a reason.
Rows under a retention hold are never touched; they are reported as kept,
with the rule's legal basis as the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from covenant.declaration.catalog import Catalog
from covenant.declaration.model import DURATION, Declaration, EnvRef, ErasureRule, RetentionRule

Mode = Literal["delete", "update", "keep"]


@dataclass(frozen=True, slots=True)
class FieldAction:
    strategy: Literal["null", "rewrite", "hash", "keep"]
    value: str | int | None = None
    secret: EnvRef | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """Rows whose ``anchor`` is on or after ``cutoff`` (or unknown) are kept."""

    rule: str
    anchor: str
    cutoff: dt.datetime
    reason: str


@dataclass(frozen=True)
class CollectionPolicy:
    collection: str
    mode: Mode
    fields: dict[str, FieldAction] = field(default_factory=dict)
    hold: Hold | None = None
    reason: str | None = None

    @property
    def changes(self) -> dict[str, FieldAction]:
        """The field actions that write something."""
        return {k: v for k, v in self.fields.items() if v.strategy != "keep"}


def resolve(
    declaration: Declaration, catalog: Catalog, now: dt.datetime
) -> dict[str, CollectionPolicy]:
    """Resolve the erasure policy of every collection, as of ``now``."""
    by_collection: dict[str, ErasureRule] = {}
    by_field: dict[str, dict[str, ErasureRule]] = {}
    for rule in declaration.erasure:
        parts = rule.target.split(".")
        coll = ".".join(parts[:2])
        if len(parts) == 2:
            by_collection[coll] = rule
        else:
            by_field.setdefault(coll, {})[parts[2]] = rule
    holds = _holds(declaration.retention, now)
    out = {}
    for key in catalog.collections:
        whole = by_collection.get(key)
        fields = {
            name: FieldAction(r.strategy, r.value, r.secret, r.reason)
            for name, r in by_field.get(key, {}).items()
            if r.strategy != "delete"
        }
        mode: Mode = "update"
        if whole is not None and whole.strategy in ("delete", "keep"):
            mode = whole.strategy
        out[key] = CollectionPolicy(
            key, mode, fields, holds.get(key), whole.reason if whole else None
        )
    return out


def _holds(rules: list[RetentionRule], now: dt.datetime) -> dict[str, Hold]:
    holds: dict[str, Hold] = {}
    for rule in rules:
        if not rule.hold:
            continue  # a maximum-retention limit never keeps data a person asked to erase
        cutoff = subtract(now, rule.duration)
        for coll in rule.collections:
            current = holds.get(coll)
            if current is None or cutoff < current.cutoff:  # the longest hold wins
                holds[coll] = Hold(rule.key, rule.anchor, cutoff, rule.legal_basis)
    return holds


def subtract(moment: dt.datetime, duration: str) -> dt.datetime:
    """``moment`` minus a declared duration, with calendar months and years."""
    match = DURATION.match(duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    n, unit = int(match.group(1)), match.group(2)
    if unit == "day":
        return moment - dt.timedelta(days=n)
    if unit == "week":
        return moment - dt.timedelta(weeks=n)
    months = n * (12 if unit == "year" else 1)
    year, month = divmod(moment.month - 1 - months, 12)
    year += moment.year
    month += 1
    day = min(moment.day, _days_in_month(year, month))
    return moment.replace(year=year, month=month, day=day)


def _days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day
