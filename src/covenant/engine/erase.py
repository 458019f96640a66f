"""The erasure request: apply each collection's strategy, then prove nothing erasable is left.

Three phases, so no success is ever reported without evidence:

1. **Find.** Walk the plan once, capturing each collection's selector and,
   where fields are updated, the primary keys of the rows to change and the
   old values to hash.
2. **Change.** Per database, in one transaction: deletes children before
   parents (so foreign keys hold), then field updates by primary key. Rows
   under a retention hold are excluded by the statements themselves.
3. **Prove.** Re-read every collection with the selectors captured in phase 1
   (not by re-walking from the identities: once a parent is erased a fresh
   walk would find nothing and prove nothing) and count what should be gone.

Running it twice is safe: the second run finds nothing or only held rows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from covenant.connectors.base import (
    Assignment,
    CountRequest,
    Delete,
    Hash,
    HoldFilter,
    Match,
    Mutation,
    NoneOf,
    Selector,
    SetNull,
    SetValue,
    Staged,
    Update,
)
from covenant.declaration.catalog import Catalog
from covenant.engine.identity import Identities, as_dict
from covenant.engine.plan import Plan, Step, dependency_order, plan
from covenant.engine.policy import CollectionPolicy, FieldAction, resolve
from covenant.engine.results import CollectionErasure, ErasureResult, KeptField
from covenant.engine.session import Session
from covenant.engine.walk import Found, unreached, walk
from covenant.errors import ConnectorError, CovenantError, ErasureIncomplete


def erase(
    session: Session, identities: Identities, *, request_id: str | None = None
) -> ErasureResult:
    loaded = session.loaded
    the_plan = plan(loaded.catalog, identities)
    policies = resolve(loaded.declaration, loaded.catalog, session.now)
    secrets = _secrets(policies, the_plan)  # before any change: a missing key stops everything

    def wanted(step: Step) -> list[str]:
        return _columns(step, policies, loaded.catalog)

    found = walk(session, the_plan, identities, columns=wanted, capture=wanted)
    report = {c: _entry(c, found[c], policies[c]) for c in found}
    counts = count_all(session, _before(found, policies))
    for (coll, what), n in counts.items():
        setattr(report[coll], what, n)
    _change(session, report, found, policies, secrets)
    remaining = _remaining(session, found, policies, secrets)
    for coll, entry in report.items():
        if entry.action == "delete":
            entry.found = entry.deleted + entry.held
        entry.remaining = remaining.get(coll, 0)
    result = ErasureResult(
        request_id=request_id or str(uuid.uuid4()),
        identities=as_dict(identities),
        verified=all(e.remaining == 0 for e in report.values()),
        collections=[report[s.collection] for s in the_plan.steps if s.collection in report],
        manual=unreached(session, the_plan, found),
    )
    if not result.verified:
        left = ", ".join(
            f"{e.collection} ({e.remaining})" for e in result.collections if e.remaining
        )
        raise ErasureNotProven(result, f"erasable personal data remains after erasure: {left}")
    return result


Key = tuple[str, str]


def count_all(session: Session, requests: dict[Key, CountRequest]) -> dict[Key, int]:
    """Answer every count, one round trip per system."""
    by_system: dict[str, list[Key]] = defaultdict(list)
    for key, request in requests.items():
        by_system[session.system_of(request.collection)].append(key)
    out: dict[Key, int] = {}
    for keys in by_system.values():
        connector = session.connector(requests[keys[0]].collection)
        for key, n in zip(keys, connector.count_many([requests[k] for k in keys]), strict=True):
            out[key] = n
    return out


def _change(
    session: Session,
    report: dict[str, CollectionErasure],
    found: dict[str, Found],
    policies: dict[str, CollectionPolicy],
    secrets: dict[str, bytes],
) -> None:
    """Apply every mutation: one transaction per database, children before parents.

    Every database's transaction is staged before any commits, so a database
    that refuses its part leaves all of them unchanged.
    """
    catalog = session.loaded.catalog
    by_system: dict[str, list[tuple[str, Mutation]]] = defaultdict(list)
    for coll in _delete_order(catalog, list(found)):
        for m in _mutations(coll, found[coll], policies[coll], catalog, secrets):
            by_system[session.system_of(coll)].append((coll, m))
    staged: list[tuple[list[tuple[str, Mutation]], Staged]] = []
    try:
        for items in by_system.values():
            staged.append((items, session.connector(items[0][0]).stage([m for _, m in items])))
    except BaseException as exc:
        for _, s in staged:
            s.rollback()
        if isinstance(exc, CovenantError):
            raise ConnectorError(f"{exc.message}; nothing was changed in any database") from None
        raise
    _commit_all(session, staged)
    for items, s in staged:
        for (coll, m), n in zip(items, s.affected, strict=True):
            if isinstance(m, Delete):
                report[coll].deleted += n
            else:
                report[coll].masked = max(report[coll].masked, n)


class ErasureNotProven(ErasureIncomplete):
    """Erasable personal data remains after the erasure ran."""

    def __init__(self, result: ErasureResult, message: str) -> None:
        super().__init__(message)
        self.result = result


def _secrets(policies: dict[str, CollectionPolicy], the_plan: Plan) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for coll in the_plan.collections:
        for action in policies[coll].changes.values():
            if action.strategy == "hash" and action.secret is not None:
                value = os.environ.get(action.secret.env, "")
                if len(value) < 16:
                    raise CovenantError(
                        f"environment variable {action.secret.env} must hold the hash key "
                        "(at least 16 characters) used by the 'hash' erasure strategy"
                    )
                out[action.secret.env] = value.encode()
    return out


def _columns(step: Step, policies: dict[str, CollectionPolicy], catalog: Catalog) -> list[str]:
    policy = policies[step.collection]
    if policy.mode != "update" or not policy.changes:
        return []
    pk = list(catalog.collections[step.collection].primary_key)
    hashed = [f for f, a in policy.changes.items() if a.strategy == "hash"]
    return [*pk, *hashed]


def _hold(policy: CollectionPolicy, held: bool) -> HoldFilter | None:
    h = policy.hold
    return HoldFilter(h.anchor, h.cutoff, held) if h else None


def _target(coll: str, found: Found, policy: CollectionPolicy, catalog: Catalog) -> Selector:
    """The rows to change: by primary key for updates, so the selector survives the change."""
    if policy.mode == "update":
        pk = catalog.collections[coll].primary_key
        if len(pk) == 1 and pk[0] in found.values:
            return Selector((Match(pk[0], frozenset(found.values[pk[0]])),), _hold(policy, False))
    return found.selector.narrowed(_hold(policy, False))


def _commit_all(session: Session, staged: list[tuple[list[tuple[str, Mutation]], Staged]]) -> None:
    """Commit every staged database; only a commit itself can fail now.

    Commits are not two-phase: if one fails, those before it stay committed and
    the rest are rolled back, and the message says which is which.
    """
    for i, (_, s) in enumerate(staged):
        try:
            s.commit()
        except CovenantError as exc:
            for _, rest in staged[i + 1 :]:
                rest.rollback()
            done = [session.system_of(items[0][0]) for items, _ in staged[:i]] or ["none"]
            raise ConnectorError(
                f"{exc.message}; already committed: {', '.join(done)}; run the request again"
            ) from None


def _entry(coll: str, found: Found, policy: CollectionPolicy) -> CollectionErasure:
    entry = CollectionErasure(collection=coll, action=policy.mode, kept_reason=policy.reason)
    if policy.mode == "update" and policy.changes:
        entry.found = found.rows  # the walk read every matched row to learn its key
    if policy.hold:
        entry.held_reason = f"{policy.hold.reason} (retention rule '{policy.hold.rule}')"
    entry.masked_fields = sorted(policy.changes) if policy.mode == "update" else []
    entry.kept_fields = [
        KeptField(f, a.reason or "")
        for f, a in sorted(policy.fields.items())
        if a.strategy == "keep"
    ]
    return entry


def _before(
    found: dict[str, Found], policies: dict[str, CollectionPolicy]
) -> dict[Key, CountRequest]:
    """Counts the report needs that the walk did not already give."""
    requests: dict[Key, CountRequest] = {}
    for coll, f in found.items():
        policy = policies[coll]
        if f.selector.empty:
            continue
        if policy.mode == "keep" or (policy.mode == "update" and not policy.changes):
            requests[(coll, "found")] = CountRequest(coll, f.selector)
        if policy.hold:
            requests[(coll, "held")] = CountRequest(coll, f.selector.narrowed(_hold(policy, True)))
    return requests


def _mutations(
    coll: str, found: Found, policy: CollectionPolicy, catalog: Catalog, secrets: dict[str, bytes]
) -> list[Mutation]:
    if found.selector.empty or policy.mode == "keep":
        return []
    if policy.mode == "delete":
        return [Delete(coll, found.selector.narrowed(_hold(policy, False)))]
    if not policy.changes:
        return []
    assignments = {f: _assignment(f, a, found, secrets) for f, a in policy.changes.items()}
    return [Update(coll, _target(coll, found, policy, catalog), assignments)]


def _assignment(
    name: str, action: FieldAction, found: Found, secrets: dict[str, bytes]
) -> Assignment:
    if action.strategy == "null":
        return SetNull()
    if action.strategy == "rewrite":
        return SetValue(action.value)
    return Hash(_hashes(name, action, found, secrets))


def _hashes(
    name: str, action: FieldAction, found: Found, secrets: dict[str, bytes]
) -> dict[Any, str]:
    assert action.secret is not None
    key = secrets[action.secret.env]
    return {v: keyed_hash(key, v) for v in found.values.get(name, ()) if v is not None}


def keyed_hash(key: bytes, value: Any) -> str:
    """HMAC-SHA-256 (RFC 2104) of the value's text: stable per key, not reversible without it."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


HASHES_PER_CHECK = 5000
"""Above this many hashed values, the proof checks "no old value left" in chunks
instead of "only new hashes present" in one statement."""


def _expectations(
    found: Found, policy: CollectionPolicy, secrets: dict[str, bytes]
) -> list[dict[str, Any]]:
    """What each changed field must now hold, as one or more ``where_not`` checks."""
    first: dict[str, Any] = {}
    more: list[dict[str, Any]] = []
    for name, action in policy.changes.items():
        if action.strategy == "null":
            first[name] = None
        elif action.strategy == "rewrite":
            first[name] = action.value
        else:
            hashes = _hashes(name, action, found, secrets)
            if len(hashes) <= HASHES_PER_CHECK:
                # The field must hold one of the hashes just written (or nothing):
                # "not an old value" alone would pass if no old value was captured.
                first[name] = frozenset(hashes.values())
            else:
                old, step = sorted(hashes, key=repr), max(1, HASHES_PER_CHECK)
                more += [
                    {name: NoneOf(frozenset(old[i : i + step]))} for i in range(0, len(old), step)
                ]
    return [first, *more] if first else more


def _remaining(
    session: Session,
    found: dict[str, Found],
    policies: dict[str, CollectionPolicy],
    secrets: dict[str, bytes],
) -> dict[str, int]:
    """Re-read every collection with the selectors captured before the change."""
    catalog = session.loaded.catalog
    requests: dict[Key, CountRequest] = {}
    unproven: dict[str, int] = {}
    for coll, f in found.items():
        policy = policies[coll]
        if policy.mode == "keep" or f.selector.empty:
            continue
        if policy.mode == "delete":
            requests[(coll, "remaining")] = CountRequest(
                coll, f.selector.narrowed(_hold(policy, False))
            )
        elif policy.changes:
            target = _target(coll, f, policy, catalog)
            if target.empty and f.rows:
                unproven[coll] = f.rows  # rows were found but not their keys: nothing is proven
                continue
            for i, expected in enumerate(_expectations(f, policy, secrets)):
                requests[(coll, f"remaining {i}")] = CountRequest(coll, target, expected)
    remaining = dict(unproven)
    for (coll, _), n in count_all(session, requests).items():
        remaining[coll] = remaining.get(coll, 0) + n
    return remaining


def _delete_order(catalog: Catalog, collections: Sequence[str]) -> list[str]:
    """Children (collections holding a reference) before the parents they reference."""
    present = set(collections)
    children: dict[str, set[str]] = {c: set() for c in collections}
    for c in collections:
        for f in catalog.collections[c].fields.values():
            for ref in f.references:
                if ref.collection in present and ref.collection != c:
                    children[ref.collection].add(c)
    return dependency_order(list(collections), children)
