"""The store's own rules (``rules:`` in the declaration), evaluated as fideslang does.

fideslang's policy evaluation compares a rule with each privacy declaration of
each system. Each dimension of the rule (data categories, data uses, data
subjects) lists values and a match mode; a declared value matches when the
value or one of its ancestors in the taxonomy is among the rule's values.
Per dimension the *offending* declared values are:

- ``ANY``: the matching ones;
- ``ALL``: the matching ones, but only when every declared value matches;
- ``NONE``: the non-matching ones, but only when none matches;
- ``OTHER``: the non-matching ones.

The rule is broken when every dimension has offending values. Covenant keeps
these semantics with two differences, both documented in ``docs/rules.md``:
a dimension left out of a rule matches anything, and there is a fourth
dimension, recipients, where a recipient's key has its type as its parent.

Covenant has no "privacy declarations"; the equivalent units are *activities*:
each purpose (its categories, its data use, the subjects of its collections)
and each recipient receiving data for one of its purposes. Pure code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from covenant.declaration.model import Match, Rule
from covenant.declaration.source import Path_
from covenant.notice.facts import Facts
from covenant.rules.builtin import Scope
from covenant.rules.violation import Violation

Hierarchy = tuple[str, ...]
"""A declared value followed by its ancestors: ``(user.contact.email, user.contact, user)``."""


@dataclass(frozen=True)
class Activity:
    label: str
    path: Path_
    categories: tuple[Hierarchy, ...]
    uses: tuple[Hierarchy, ...]
    subjects: tuple[Hierarchy, ...]
    recipients: tuple[Hierarchy, ...]


def activities(facts: Facts) -> Iterator[Activity]:
    d = facts.declaration
    for i, p in enumerate(d.purposes):
        yield Activity(
            f"purpose '{p.key}'",
            ("purposes", i),
            _categories(facts, facts.purpose_categories(p)),
            (_use(facts, p.key),),
            _subjects(facts, p.collections),
            (),
        )
    for i, r in enumerate(d.recipients):
        received = _categories(facts, facts.received(r))
        who = ((r.key, r.type),)
        served = [q for key in r.purposes if (q := facts.purpose(key))]
        if not served:
            yield Activity(f"recipient '{r.key}'", ("recipients", i), received, (), (), who)
        for q in served:
            yield Activity(
                f"recipient '{r.key}' (purpose '{q.key}')",
                ("recipients", i),
                received,
                (_use(facts, q.key),),
                _subjects(facts, q.collections),
                who,
            )


def _categories(facts: Facts, categories: set[str]) -> tuple[Hierarchy, ...]:
    return tuple(
        _ancestry(c, {k: t.parent for k, t in facts.taxonomy.categories.items()})
        for c in sorted(categories)
    )


def _use(facts: Facts, purpose_key: str) -> Hierarchy:
    """A purpose's key, then its data use and the use's ancestors."""
    purpose = facts.purpose(purpose_key)
    assert purpose is not None
    parents = {k: t.parent for k, t in facts.taxonomy.uses.items()}
    return (purpose_key, *_ancestry(purpose.data_use, parents))


def _subjects(facts: Facts, collections: list[str]) -> tuple[Hierarchy, ...]:
    # Data subjects have no hierarchy in fideslang: each is its own one-element chain.
    return tuple((s.key,) for s in facts.subjects_of(collections))


def _ancestry(key: str, parents: dict[str, str | None]) -> Hierarchy:
    chain = [key]
    seen = {key}
    current: str | None = parents.get(key) or _dotted_parent(key)
    while current and current not in seen:
        chain.append(current)
        seen.add(current)
        current = parents.get(current) or _dotted_parent(current)
    return tuple(chain)


def _dotted_parent(key: str) -> str | None:
    return key.rsplit(".", 1)[0] if "." in key else None


def offending(match: Match, declared: tuple[Hierarchy, ...]) -> set[str]:
    """The declared values that make this dimension match, by fideslang's rules."""
    values = set(match.values)
    matched = {h[0] for h in declared if values & set(h)}
    mismatched = {h[0] for h in declared if not values & set(h)}
    if match.matches == "ANY":
        return matched
    if match.matches == "ALL":
        return matched if declared and not mismatched else set()
    if match.matches == "NONE":
        return mismatched if not matched else set()
    return mismatched  # OTHER


DIMENSIONS = ("data_categories", "data_uses", "data_subjects", "recipients")


def broken(rule: Rule, activity: Activity) -> dict[str, set[str]] | None:
    """The offending values per dimension when ``activity`` breaks ``rule``, else None."""
    declared = {
        "data_categories": activity.categories,
        "data_uses": activity.uses,
        "data_subjects": activity.subjects,
        "recipients": activity.recipients,
    }
    found: dict[str, set[str]] = {}
    for dimension in DIMENSIONS:
        match: Match | None = getattr(rule, dimension)
        if match is None:
            continue  # a dimension the rule leaves out matches anything
        hit = offending(match, declared[dimension])
        if not hit:
            return None
        found[dimension] = hit
    return found


def evaluate_rules(scope: Scope) -> Iterator[Violation]:
    rules = scope.facts.declaration.rules
    acts = list(activities(scope.facts))
    for i, rule in enumerate(rules):
        for act in acts:
            found = broken(rule, act)
            if found is None:
                continue
            detail = "; ".join(
                f"{dim.replace('_', ' ')}: {', '.join(sorted(vals))}" for dim, vals in found.items()
            )
            yield Violation.at(
                rule.key,
                scope.locator.at(act.path, ""),
                f"{act.label} breaks rule '{rule.key}' (rules[{i}]): {rule.description} [{detail}]",
                rule.fix or f"change {act.label} so that it no longer matches rule '{rule.key}'",
            )
