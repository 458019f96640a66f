"""The store's own values for the data points a requester is asked to match.

One traversal from the requester's identities, with the same set-based walk
as an access request, keeping only the declared point fields' distinct values.
The answer for a person the store does not know is an empty mapping, which the
verifier treats exactly like details that did not match.
"""

from __future__ import annotations

from collections.abc import Mapping

from covenant.declaration.model import VerificationPoint
from covenant.engine.identity import Identities
from covenant.engine.plan import Step, plan
from covenant.engine.session import Session
from covenant.engine.walk import walk
from covenant.requests.verification import RecordValue

MAX_VALUES = 500
"""Per point: a person with more addresses than this is matched on the first ones."""


def point_values(
    session: Session, identities: Identities, points: Mapping[str, VerificationPoint]
) -> dict[str, list[RecordValue]]:
    """For each point name, the values the store holds for the person."""
    if not points:
        return {}
    wanted: dict[str, list[tuple[str, str]]] = {}
    for name, point in points.items():
        collection, _, field_name = point.field.rpartition(".")
        wanted.setdefault(collection, []).append((name, field_name))
    the_plan = plan(session.loaded.catalog, identities)

    def capture(step: Step) -> list[str]:
        return [f for _, f in wanted.get(step.collection, [])]

    found = walk(session, the_plan, identities, columns=lambda step: [], capture=capture)
    values: dict[str, list[RecordValue]] = {}
    for collection, pairs in wanted.items():
        record = found.get(collection)
        if record is None:
            continue
        for name, field_name in pairs:
            held = [v for v in record.values.get(field_name, ()) if v is not None]
            values.setdefault(name, []).extend(held[:MAX_VALUES])
    return values
