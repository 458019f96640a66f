"""The access request: find one person's data everywhere and package it for them.

Rows stream from the connectors straight into the package writer, so memory
stays bounded however many rows a person has. Columns whose categories the
declaration excludes (password hashes, tokens) are never written; they are
read only when a later step needs their values to follow a reference.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from covenant.declaration import Loaded
from covenant.engine.identity import Identities, as_dict
from covenant.engine.package import PackageWriter
from covenant.engine.plan import Step, plan
from covenant.engine.results import AccessResult, CollectionAccess
from covenant.engine.session import Session
from covenant.engine.walk import Rows, unreached, walk


def exported_columns(loaded: Loaded, collection: str) -> tuple[list[str], list[str]]:
    """(columns written to the package, columns withheld by the access policy)."""
    excluded = loaded.declaration.access.exclude_categories
    keep: list[str] = []
    drop: list[str] = []
    for f in loaded.catalog.collections[collection].fields.values():
        hidden = any(loaded.taxonomy.is_within(c, x) for c in f.categories for x in excluded)
        (drop if hidden else keep).append(f.name)
    return keep, drop


def access(
    session: Session,
    identities: Identities,
    out: Path,
    *,
    request_id: str | None = None,
    on_rows: Callable[[str, int], None] | None = None,
) -> AccessResult:
    """Write one person's package to ``out``; ``on_rows(collection, n)`` reports progress."""
    loaded = session.loaded
    request_id = request_id or str(uuid.uuid4())
    the_plan = plan(loaded.catalog, identities)
    writer = PackageWriter(
        out,
        loaded,
        identities=_flat(identities),
        request_id=request_id,
        generated_at=session.now.replace(tzinfo=dt.UTC),
    )
    report: list[CollectionAccess] = []

    def sink(step: Step, columns: Sequence[str], batches: Iterator[Rows]) -> None:
        keep, drop = exported_columns(loaded, step.collection)
        index = [columns.index(c) for c in keep]
        writer.begin(step.collection, keep)
        rows = 0
        for batch in batches:
            writer.write([tuple(r[i] for i in index) for r in batch])
            rows += len(batch)
            if on_rows is not None:
                on_rows(step.collection, len(batch))
        writer.end()
        report.append(CollectionAccess(step.collection, rows, keep, drop))

    try:
        found = walk(
            session,
            the_plan,
            identities,
            columns=lambda s: exported_columns(loaded, s.collection)[0],
            sink=sink,
        )
        summary = writer.finish()
    except BaseException:
        writer.abort()
        raise
    manual = unreached(session, the_plan, found)
    return AccessResult(
        request_id=request_id,
        identities=as_dict(identities),
        package=str(summary.path),
        sha256=summary.sha256,
        bytes=summary.size_bytes,
        collections=report,
        manual=manual,
    )


def _flat(identities: Identities) -> dict[str, str]:
    return {k: ", ".join(v) for k, v in identities.items()}
