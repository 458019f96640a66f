"""The traversal planner: which collections hold one person's data, and in what order.

Pure code, no I/O. From the identities a requester gives, the planner walks the
declared references breadth-first. Each collection is queried once, after every
collection that feeds it, with all its inputs OR-ed together, so execution
costs one set-based query per collection.

Orientation: a reference with ``direction: from`` or ``to`` is one-way; a
reference without direction may be walked either way and is oriented away from
the side reached first. An edge between two collections reached at the same
hop is kept only when it is explicitly directed (those are acyclic by
validation), so the result is always a DAG.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from covenant.declaration.catalog import Catalog, Edge


@dataclass(frozen=True, slots=True)
class Input:
    """One way to select rows: ``field`` matches an identity, or values from another collection."""

    field: str
    identity: str | None = None
    source: str | None = None
    source_field: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    collection: str
    hop: int
    inputs: tuple[Input, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    """In dependency order: every step's sources come before it."""
    unreachable: tuple[str, ...]

    def step(self, collection: str) -> Step:
        for s in self.steps:
            if s.collection == collection:
                return s
        raise KeyError(collection)

    def outputs(self, collection: str) -> set[str]:
        """Fields of ``collection`` whose values later steps need."""
        return {
            i.source_field
            for s in self.steps
            for i in s.inputs
            if i.source == collection and i.source_field
        }

    @property
    def collections(self) -> list[str]:
        return [s.collection for s in self.steps]


def plan(catalog: Catalog, identities: Iterable[str]) -> Plan:
    """Plan a traversal starting from the given identity types."""
    given = set(identities)
    active = {k: c for k, c in catalog.collections.items() if not c.skip}
    seeds: dict[str, list[Input]] = {}
    for key, coll in active.items():
        for f in coll.fields.values():
            if f.identity in given:
                seeds.setdefault(key, []).append(Input(field=f.name, identity=f.identity))
    edges = [e for e in catalog.edges() if e.source in active and e.target in active]
    hops = _hops(seeds, edges)
    inputs = {key: list(seeds.get(key, [])) for key in hops}
    for e in _oriented(edges, hops):
        inputs[e.target].append(Input(e.target_field, None, e.source, e.source_field))
    order = _topological(hops, inputs, {k: active[k].after for k in hops})
    steps = tuple(Step(k, hops[k], tuple(_dedupe(inputs[k]))) for k in order)
    unreachable = tuple(sorted(set(active) - set(hops)))
    return Plan(steps=steps, unreachable=unreachable)


def _hops(seeds: dict[str, list[Input]], edges: list[Edge]) -> dict[str, int]:
    hops = dict.fromkeys(seeds, 0)
    queue = deque(sorted(seeds))
    by_source: dict[str, list[Edge]] = {}
    for e in edges:
        by_source.setdefault(e.source, []).append(e)
    while queue:
        current = queue.popleft()
        for e in by_source.get(current, []):
            if e.target not in hops:
                hops[e.target] = hops[current] + 1
                queue.append(e.target)
    return hops


def _oriented(edges: list[Edge], hops: dict[str, int]) -> list[Edge]:
    """The edges the walk follows, guaranteed acyclic.

    Edges that go one hop further out are always kept. An edge between two
    collections at the same hop is kept unless it would close a cycle: directed
    edges first (validation rejects directed cycles anyway), then undirected
    ones in a stable order, so giving more identities never drops a link.
    """
    usable = [e for e in edges if e.source in hops and e.target in hops and e.source != e.target]
    kept = [e for e in usable if hops[e.source] < hops[e.target]]
    succ: dict[str, set[str]] = {}
    for e in kept:
        succ.setdefault(e.source, set()).add(e.target)
    same = [e for e in usable if hops[e.source] == hops[e.target]]
    for e in sorted(
        same, key=lambda e: (not e.directed, e.source, e.target, e.source_field, e.target_field)
    ):
        if not _reaches(succ, e.target, e.source):
            kept.append(e)
            succ.setdefault(e.source, set()).add(e.target)
    return kept


def _reaches(succ: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _topological(
    hops: dict[str, int], inputs: dict[str, list[Input]], after: dict[str, tuple[str, ...]]
) -> list[str]:
    preds = {
        k: {i.source for i in v if i.source} | {a for a in after[k] if a in hops}
        for k, v in inputs.items()
    }
    return dependency_order(sorted(hops, key=lambda k: (hops[k], k)), preds)


def dependency_order(nodes: list[str], needs: dict[str, set[str]]) -> list[str]:
    """``nodes`` ordered so each comes after everything it ``needs``, stable otherwise.

    A cycle (only an ``after`` loop can make one, and validation reports it)
    is broken at the first pending node rather than looping forever.
    """
    order: list[str] = []
    done: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = [k for k in pending if needs.get(k, set()) <= done] or pending[:1]
        order.extend(ready)
        done.update(ready)
        pending = [k for k in pending if k not in done]
    return order


def _dedupe(items: list[Input]) -> list[Input]:
    seen: set[Input] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
