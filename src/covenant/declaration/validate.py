"""Cross-reference checks that need the whole declaration at once.

Each check returns problems instead of raising, so the user sees every problem
in one run. Pure code: no database, no environment.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator

from fideslang.default_taxonomy import DEFAULT_TAXONOMY

from covenant.declaration.catalog import Catalog, CollectionInfo
from covenant.declaration.locate import Locator
from covenant.declaration.model import RECIPIENT_TYPES, Declaration
from covenant.declaration.taxonomy import Taxonomy
from covenant.errors import Problem
from covenant.requests.deadlines import DEFAULT_RULES, DeadlineRulesError, rules_from_mapping

FIDES_SUBJECTS = frozenset(s.fides_key for s in DEFAULT_TAXONOMY.data_subject)
"""fideslang's data subjects, usable in rules without declaring them in ``subjects``."""


def validate(
    declaration: Declaration,
    catalog: Catalog,
    taxonomy: Taxonomy,
    locator: Locator,
    systems_of: dict[str, str],
) -> list[Problem]:
    checks = (
        _unique_keys(declaration, locator),
        _systems(declaration, locator, systems_of),
        _categories(declaration, catalog, taxonomy, locator),
        _references(catalog, locator),
        _cycles(catalog, locator),
        _reachable(catalog, locator),
        _erasure(declaration, catalog, locator),
        _retention(declaration, catalog, locator),
        _collections_named(declaration, catalog, locator),
        _uses(declaration, taxonomy, locator),
        _statement_keys(declaration, catalog, taxonomy, locator),
        _rules(declaration, taxonomy, locator),
        _desk(declaration, catalog, locator),
    )
    return [p for check in checks for p in check]


def _unique_keys(d: Declaration, loc: Locator) -> Iterator[Problem]:
    for section in (
        "systems",
        "identities",
        "purposes",
        "sources",
        "recipients",
        "trackers",
        "retention",
        "kept_until",
        "subjects",
        "rules",
    ):
        seen: set[str] = set()
        for i, item in enumerate(getattr(d, section)):
            if item.key in seen:
                yield loc.at((section, i, "key"), f"'{item.key}' is declared twice in {section}")
            seen.add(item.key)


def _systems(d: Declaration, loc: Locator, systems_of: dict[str, str]) -> Iterator[Problem]:
    known = {s.key for s in d.systems}
    for dataset, system in systems_of.items():
        if system not in known:
            yield loc.at(
                ("datasets", loc.entries.get(dataset, 0), "system"),
                f"unknown system '{system}' for dataset '{dataset}'",
            )


def _categories(d: Declaration, c: Catalog, t: Taxonomy, loc: Locator) -> Iterator[Problem]:
    for i, ext in enumerate(d.taxonomy.data_categories):
        if ext.parent_key not in t.categories:
            yield loc.at(
                ("taxonomy", "data_categories", i, "parent_key"),
                f"unknown parent category '{ext.parent_key}'",
            )
    for coll in c.collections.values():
        for f in coll.fields.values():
            for cat in f.categories:
                if cat not in t.categories:
                    yield loc.in_dataset(
                        coll.key, f.name, f"unknown data category '{cat}'{_hint(cat, t.categories)}"
                    )
            if f.nested:
                yield loc.in_dataset(
                    coll.key, f.name, "nested fields are not supported for SQL collections"
                )
    lists: list[tuple[tuple[str | int, ...], list[str]]] = [
        (("access", "exclude_categories"), d.access.exclude_categories)
    ]
    for i, r in enumerate(d.recipients):
        lists.append((("recipients", i, "categories"), r.categories))
        lists.append((("recipients", i, "forbidden_categories"), r.forbidden_categories))
    for path, cats in lists:
        for j, cat in enumerate(cats):
            if cat not in t.categories:
                yield loc.at((*path, j), f"unknown data category '{cat}'{_hint(cat, t.categories)}")


def _hint(value: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _references(c: Catalog, loc: Locator) -> Iterator[Problem]:
    for coll in c.collections.values():
        for f in coll.fields.values():
            for ref in f.references:
                target = c.collections.get(ref.collection)
                if target is None:
                    yield loc.in_dataset(
                        coll.key, f.name, f"references missing collection '{ref.collection}'"
                    )
                elif ref.field not in target.fields:
                    yield loc.in_dataset(
                        coll.key, f.name, f"references missing field '{ref.collection}.{ref.field}'"
                    )
        for a in coll.after:
            if a not in c.collections:
                yield loc.in_dataset(coll.key, None, f"'after' names missing collection '{a}'")


def _cycles(c: Catalog, loc: Locator) -> Iterator[Problem]:
    graph: dict[str, set[str]] = {k: set() for k in c.collections}
    for e in c.edges():
        if e.directed and e.source in graph and e.target in graph:
            graph[e.source].add(e.target)
    for coll in c.collections.values():
        for a in coll.after:
            if a in graph:
                graph[a].add(coll.key)
    reported: set[frozenset[str]] = set()
    for cycle in _find_cycles(graph):
        if frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            yield loc.in_dataset(
                cycle[0], None, "reference cycle: " + " -> ".join([*cycle, cycle[0]])
            )


def _find_cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> Iterator[list[str]]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                yield stack[stack.index(nxt) :]
            elif nxt not in state:
                yield from visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            yield from visit(node)


def _reachable(c: Catalog, loc: Locator) -> Iterator[Problem]:
    from covenant.engine.plan import plan

    for key in plan(c, c.identity_types()).unreachable:
        yield loc.in_dataset(
            key,
            None,
            "no identity can reach this collection: add a reference or an identity field, "
            "or set fides_meta.skip_processing",
        )


def _erasure(d: Declaration, c: Catalog, loc: Locator) -> Iterator[Problem]:
    whole: dict[str, str] = {}
    fields: dict[str, set[str]] = {}
    for i, rule in enumerate(d.erasure):
        path = ("erasure", i)
        parts = rule.target.split(".")
        coll_key = ".".join(parts[:2])
        coll = c.collections.get(coll_key)
        if len(parts) not in (2, 3) or coll is None:
            yield loc.at((*path, "target"), f"unknown collection in target '{rule.target}'")
            continue
        if len(parts) == 3 and parts[2] not in coll.fields:
            yield loc.at((*path, "target"), f"unknown field in target '{rule.target}'")
            continue
        yield from _strategy_shape(rule.strategy, len(parts) == 2, rule, path, loc)
        if len(parts) == 2:
            whole[coll_key] = rule.strategy
        else:
            fields.setdefault(coll_key, set()).add(parts[2])
            if rule.strategy != "keep":
                yield from _updatable(coll, parts[2], loc)
    for coll in c.collections.values():
        if coll.skip or whole.get(coll.key) in ("delete", "keep"):
            continue
        for f in coll.personal_fields:
            if f.name not in fields.get(coll.key, set()):
                yield loc.in_dataset(
                    coll.key,
                    f.name,
                    f"personal data without an erasure strategy: add an erasure rule for "
                    f"'{coll.key}.{f.name}' (null, rewrite, hash or keep with a reason), "
                    f"or one for '{coll.key}' (delete or keep)",
                )


def _updatable(coll: CollectionInfo, field: str, loc: Locator) -> Iterator[Problem]:
    """Field-level erasure finds its rows again by one primary key that it never changes."""
    if len(coll.primary_key) != 1:
        yield loc.in_dataset(
            coll.key,
            None,
            "field-level erasure needs exactly one primary-key field (fides_meta.primary_key)",
        )
    elif field in coll.primary_key:
        yield loc.in_dataset(
            coll.key,
            field,
            "a primary key cannot be masked: keep it with a reason, or delete the row",
        )


def _strategy_shape(
    strategy: str, whole: bool, rule: object, path: tuple[str | int, ...], loc: Locator
) -> Iterator[Problem]:
    if whole and strategy not in ("delete", "keep"):
        yield loc.at(
            (*path, "strategy"),
            f"'{strategy}' applies to a field; a collection is 'delete' or 'keep'",
        )
    if not whole and strategy == "delete":
        yield loc.at(
            (*path, "strategy"), "'delete' removes whole rows: target the collection, not a field"
        )
    if strategy == "hash" and getattr(rule, "secret", None) is None:
        yield loc.at(path, "'hash' needs a secret: secret: {$env: COVENANT_HASH_KEY}")
    if strategy == "rewrite" and getattr(rule, "value", None) is None:
        yield loc.at(path, "'rewrite' needs the fixed 'value' to write")
    if strategy == "keep" and not getattr(rule, "reason", None):
        yield loc.at(path, "'keep' needs the 'reason' shown to the person")


def _retention(d: Declaration, c: Catalog, loc: Locator) -> Iterator[Problem]:
    for i, rule in enumerate(d.retention):
        for j, key in enumerate(rule.collections):
            coll = c.collections.get(key)
            if coll is None:
                yield loc.at(("retention", i, "collections", j), f"unknown collection '{key}'")
            elif rule.anchor not in coll.fields:
                yield loc.at(("retention", i, "anchor"), f"'{key}' has no field '{rule.anchor}'")


def _collections_named(d: Declaration, c: Catalog, loc: Locator) -> Iterator[Problem]:
    for section in ("purposes", "sources"):
        for i, item in enumerate(getattr(d, section)):
            for j, key in enumerate(item.collections):
                if key not in c.collections:
                    yield loc.at((section, i, "collections", j), f"unknown collection '{key}'")


def _uses(d: Declaration, t: Taxonomy, loc: Locator) -> Iterator[Problem]:
    purposes = {p.key for p in d.purposes}
    for i, p in enumerate(d.purposes):
        if p.data_use not in t.uses:
            yield loc.at(
                ("purposes", i, "data_use"),
                f"unknown data use '{p.data_use}'{_hint(p.data_use, t.uses)}",
            )
    for i, r in enumerate(d.recipients):
        for j, key in enumerate(r.purposes):
            if key not in purposes:
                yield loc.at(("recipients", i, "purposes", j), f"unknown purpose '{key}'")


def _statement_keys(d: Declaration, c: Catalog, t: Taxonomy, loc: Locator) -> Iterator[Problem]:
    """Collections and categories named by kept_until, subjects, sources and purposes."""
    for section in ("kept_until", "subjects"):
        for i, item in enumerate(getattr(d, section)):
            for j, key in enumerate(item.collections):
                if key not in c.collections:
                    yield loc.at((section, i, "collections", j), f"unknown collection '{key}'")
    for section in ("sources", "purposes"):
        for i, item in enumerate(getattr(d, section)):
            for j, cat in enumerate(item.categories):
                if cat not in t.categories:
                    yield loc.at(
                        (section, i, "categories", j),
                        f"unknown data category '{cat}'{_hint(cat, t.categories)}",
                    )


def _rules(d: Declaration, t: Taxonomy, loc: Locator) -> Iterator[Problem]:
    """Every value a rule names must exist, or the rule could never fire."""
    purposes = {p.key for p in d.purposes}
    known: dict[str, set[str]] = {
        "data_categories": set(t.categories),
        "data_uses": set(t.uses) | purposes,
        "data_subjects": {s.key for s in d.subjects} | FIDES_SUBJECTS,
        "recipients": {r.key for r in d.recipients} | set(RECIPIENT_TYPES),
    }
    for i, rule in enumerate(d.rules):
        for dimension, values in known.items():
            match = getattr(rule, dimension)
            for j, value in enumerate(match.values if match else []):
                if value not in values:
                    yield loc.at(
                        ("rules", i, dimension, "values", j),
                        f"unknown {dimension.replace('_', ' ').removesuffix('s')} "
                        f"'{value}'{_hint(value, values)}",
                    )


def _desk(d: Declaration, c: Catalog, loc: Locator) -> Iterator[Problem]:
    for name, point in d.requests.verification_points.items():
        collection, _, field = point.field.rpartition(".")
        coll = c.collections.get(collection)
        if coll is None or field not in coll.fields:
            yield loc.at(
                ("requests", "verification_points", name, "field"),
                f"unknown field '{point.field}'",
            )
    try:
        zoneinfo.ZoneInfo(d.requests.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        yield loc.at(("requests", "timezone"), f"unknown time zone '{d.requests.timezone}'")
    for jurisdiction, overrides in d.requests.deadlines.items():
        base = DEFAULT_RULES.get(jurisdiction)
        if base is None:
            known = ", ".join(sorted(DEFAULT_RULES))
            yield loc.at(
                ("requests", "deadlines", jurisdiction),
                f"no default deadline rules for '{jurisdiction}'; known: {known}",
            )
            continue
        try:
            rules_from_mapping(overrides, base=base)
        except DeadlineRulesError as exc:
            yield loc.at(("requests", "deadlines", jurisdiction), str(exc))
