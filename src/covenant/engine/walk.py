"""Executing a traversal plan: one set-based read per collection, in dependency order.

The walk turns each plan step into a :class:`Selector` from the requester's
identities and the values earlier steps found, streams the rows to a
caller-supplied sink, and keeps only the distinct values later steps need.
It never loads a whole table: a step reads only rows its selector matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from covenant.connectors.base import Match, Selector
from covenant.engine.identity import Identities
from covenant.engine.plan import Plan, Step
from covenant.engine.session import Session

Rows = list[tuple[Any, ...]]


@dataclass
class Found:
    """What the walk learned about one collection."""

    selector: Selector
    rows: int = 0
    values: dict[str, set[Any]] = field(default_factory=dict)
    partial: bool = False
    """Some input comes through a system without a connector: rows may be missing."""


Sink = Callable[[Step, Sequence[str], Iterator[Rows]], None]


def selector_for(
    step: Step, identities: Identities, found: dict[str, Found], types: dict[str, str | None]
) -> Selector:
    """Rows matching any input; ``types`` gives each target field's declared ``data_type``."""
    matches: dict[str, set[Any]] = {}
    for i in step.inputs:
        if i.identity is not None:
            values: Iterable[Any] = identities.get(i.identity, ())
        elif i.source is not None and i.source_field is not None and i.source in found:
            values = found[i.source].values.get(i.source_field, ())
        else:
            values = ()
        kind = types.get(i.field)
        matches.setdefault(i.field, set()).update(
            c for c in (coerce(v, kind) for v in values if v is not None) if c is not None
        )
    return Selector(tuple(Match(f, frozenset(v)) for f, v in matches.items()))


_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")


def coerce(value: Any, data_type: str | None) -> Any:
    """``value`` as the target field's declared type, or None when it cannot equal one.

    Values are bound as the type of the field they came from. Compared with a
    column of another type, databases coerce loosely (MariaDB finds '01' and
    '1abc' equal to 1), which would reach other people's rows; so values are
    converted exactly, and a value with no exact form is dropped.
    """
    if data_type == "string":
        return value if isinstance(value, str) else str(value)
    if data_type == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else None
        return int(value) if isinstance(value, str) and _INTEGER.match(value) else None
    if data_type == "float":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(value) if isinstance(value, str) else None
        except ValueError:
            return None
    if data_type == "boolean":
        return value if isinstance(value, bool) else None
    return value


def walk(
    session: Session,
    plan: Plan,
    identities: Identities,
    *,
    columns: Callable[[Step], Sequence[str]],
    capture: Callable[[Step], Sequence[str]] = lambda step: (),
    sink: Sink | None = None,
) -> dict[str, Found]:
    """Run ``plan``; feed each step's rows (only ``columns(step)``) to ``sink``.

    The distinct values of the fields later steps need, and of ``capture(step)``,
    are kept in :attr:`Found.values`; nothing else is held in memory.

    A step whose ``columns`` are empty and that feeds nothing downstream is
    not read at all: erasure of a leaf needs only its selector.
    """
    found: dict[str, Found] = {}
    for step in plan.steps:
        if session.is_manual(step.collection):
            continue
        info = session.loaded.catalog.collections[step.collection]
        types = {name: f.data_type for name, f in info.fields.items()}
        selector = selector_for(step, identities, found, types)
        partial = any(
            i.source is not None and (i.source not in found or found[i.source].partial)
            for i in step.inputs
        )
        outputs = sorted(plan.outputs(step.collection) | set(capture(step)))
        wanted = list(dict.fromkeys([*columns(step), *outputs]))
        record = Found(selector=selector, values={o: set() for o in outputs}, partial=partial)
        found[step.collection] = record
        if not wanted or selector.empty:
            if sink is not None:
                sink(step, wanted, iter(()))
            continue
        batches = _tracked(
            session.connector(step.collection).read(step.collection, wanted, selector),
            wanted,
            record,
        )
        if sink is not None:
            sink(step, wanted, batches)
        for _ in batches:  # drain whatever the sink left unread
            pass
    return found


def _tracked(batches: Iterator[Rows], columns: list[str], record: Found) -> Iterator[Rows]:
    slots = [(columns.index(o), record.values[o]) for o in record.values]
    for batch in batches:
        record.rows += len(batch)
        for index, bucket in slots:
            bucket.update(r[index] for r in batch)
        yield batch


def unreached(session: Session, plan: Plan, found: dict[str, Found]) -> list[str]:
    """Collections people must search: no connector, or found only partly through one."""
    return [
        s.collection
        for s in plan.steps
        if session.is_manual(s.collection) or found[s.collection].partial
    ]
