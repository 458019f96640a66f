"""The correction request: set declared fields of one person's rows to new values.

Values arrive as text and are converted to each column's type before anything
changes; a value that does not fit is refused with the reason. Keys and
reference fields cannot be corrected, because changing them would detach rows
from the person or from each other. The result shows every row before and
after, read back from the database.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from covenant.connectors.base import Match, Selector, SetValue, Update
from covenant.declaration import Loaded
from covenant.engine.identity import Identities, as_dict
from covenant.engine.plan import plan
from covenant.engine.results import CorrectionResult, RowChange
from covenant.engine.session import Session
from covenant.engine.walk import walk
from covenant.errors import CorrectionError

Changes = dict[str, dict[str, str]]
"""collection -> field -> new value as text."""


def parse_sets(pairs: Iterable[str]) -> Changes:
    """Parse ``collection.field=value`` as given on the command line."""
    out: Changes = defaultdict(dict)
    for pair in pairs:
        target, sep, value = pair.partition("=")
        parts = target.strip().rsplit(".", 1)
        if not sep or len(parts) != 2:
            raise CorrectionError(
                f"write a correction as dataset.collection.field=value (got {pair[:60]!r})"
            )
        out[parts[0]][parts[1]] = value
    if not out:
        raise CorrectionError("give at least one --set dataset.collection.field=value")
    return dict(out)


def check_targets(loaded: Loaded, changes: Changes) -> None:
    referenced = {
        (r.collection, r.field)
        for c in loaded.catalog.collections.values()
        for f in c.fields.values()
        for r in f.references
    }
    for coll, fields in changes.items():
        info = loaded.catalog.collections.get(coll)
        if info is None:
            raise CorrectionError(f"unknown collection '{coll}'")
        for name in fields:
            f = info.fields.get(name)
            if f is None:
                raise CorrectionError(f"'{coll}' has no declared field '{name}'")
            if f.primary_key or f.references or (coll, name) in referenced:
                raise CorrectionError(
                    f"'{coll}.{name}' is a key that links records; it cannot be corrected"
                )


def convert(value: str, kind: type, length: int | None = None) -> Any:
    """Convert text to a column's Python type, or raise with the reason."""
    try:
        if kind is bool:
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        if kind is decimal.Decimal:
            return decimal.Decimal(value)
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(value)
        if kind is dt.date:
            return dt.date.fromisoformat(value)
    except (ValueError, decimal.InvalidOperation):
        raise CorrectionError(f"{value[:60]!r} is not a valid {kind.__name__}") from None
    if length is not None and len(value) > length:
        raise CorrectionError(f"the value is longer than the column's {length} characters")
    return value


def correct(
    session: Session, identities: Identities, changes: Changes, *, request_id: str | None = None
) -> CorrectionResult:
    loaded = session.loaded
    check_targets(loaded, changes)
    the_plan = plan(loaded.catalog, identities)
    for coll in changes:
        if coll not in the_plan.collections:
            raise CorrectionError(f"'{coll}' holds nothing reachable from the identities given")
        if len(loaded.catalog.collections[coll].primary_key) != 1:
            raise CorrectionError(f"'{coll}' needs a single-field primary key to be corrected")
    typed = {c: _typed(session, c, f) for c, f in changes.items()}
    found = walk(
        session,
        the_plan,
        identities,
        columns=lambda s: _pk(loaded, s.collection) if s.collection in changes else [],
    )
    selectors = {}
    for c in changes:
        pk = _pk(loaded, c)[0]
        selectors[c] = Selector((Match(pk, frozenset(found[c].values.get(pk, set()))),))
    before = {
        c: _snapshot(session, c, _pk(loaded, c)[0], list(changes[c]), selectors[c]) for c in changes
    }
    by_system: dict[str, list[Update]] = defaultdict(list)
    for c, values in typed.items():
        assignments = {f: SetValue(v) for f, v in values.items()}
        by_system[session.system_of(c)].append(Update(c, selectors[c], assignments))
    for updates in by_system.values():
        session.connector(updates[0].collection).apply(updates)
    after = {
        c: _snapshot(session, c, _pk(loaded, c)[0], list(changes[c]), selectors[c]) for c in changes
    }
    result_changes: dict[str, list[RowChange]] = {}
    verified = True
    for c in changes:
        pk = _pk(loaded, c)[0]
        rows = []
        for key, old in before[c].items():
            new = after[c].get(key, {})
            verified &= all(_same(new.get(f), v) for f, v in typed[c].items())
            rows.append(RowChange({pk: key}, old, new))
        result_changes[c] = rows
    if not verified:
        raise CorrectionError("the corrected values did not read back as written")
    return CorrectionResult(
        request_id or str(uuid.uuid4()), as_dict(identities), result_changes, verified
    )


def _pk(loaded: Loaded, collection: str) -> list[str]:
    return list(loaded.catalog.collections[collection].primary_key)


def _typed(session: Session, collection: str, fields: Mapping[str, str]) -> dict[str, Any]:
    types = session.connector(collection).column_types(collection)
    out: dict[str, Any] = {}
    for f, v in fields.items():
        column = types.get(f)
        if column is None:
            raise CorrectionError(
                f"'{collection}.{f}' is declared but the database has no such column"
            )
        if v == "" and column.nullable:
            out[f] = None
            continue
        out[f] = convert(v, column.python_type, column.length)
    return out


def _snapshot(
    session: Session, collection: str, pk: str, fields: list[str], selector: Selector
) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for batch in session.connector(collection).read(collection, [pk, *fields], selector):
        for row in batch:
            out[row[0]] = dict(zip(fields, row[1:], strict=True))
    return out


def _same(stored: Any, written: Any) -> bool:
    # SQLite hands dates and decimals back in its own storage types.
    return stored == written or str(stored) == str(written)
