"""What fulfilling a request means for each kind: the engine's work and what follows from it.

:func:`run` drives the engine for one request (access, categories, deletion,
correction); the rest is pure: which consent topics an opt-out withdraws,
which manual tasks a deletion leaves for staff, and the sentence the
completion message adds. :class:`~covenant.desk.service.Desk` records the
outcome and moves the request.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from covenant.consent.decisions import Nature, Policy
from covenant.consent.records import Topic
from covenant.declaration import Loaded
from covenant.desk.intake import Details
from covenant.engine.access import access
from covenant.engine.correct import correct, parse_sets
from covenant.engine.erase import erase
from covenant.engine.identity import Identities
from covenant.engine.report import categories_report
from covenant.engine.session import Session
from covenant.requests.lifecycle import Kind

Summary = dict[str, Any]
"""What a fulfilment did, for the console and the status page: counts and reasons, never values."""

PACKAGED = (Kind.ACCESS, Kind.KNOW_SPECIFIC, Kind.KNOW_CATEGORIES)


def run(
    session: Session,
    kind: Kind,
    ids: Identities,
    info: Details,
    *,
    request_id: str,
    scratch: Path,
    opt_out: Callable[[list[Topic]], None],
) -> tuple[Summary, Path | None]:
    """Do the engine's part of one request; the summary, and the package to deliver if any.

    The package is written to a temporary file in ``scratch``; the caller
    encrypts it and removes it. ``opt_out`` records the withdrawals an
    opt-out implies.
    """
    loaded = session.loaded
    if kind in PACKAGED:
        scratch.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(dir=scratch, suffix=".zip.tmp")
        os.close(fd)
        out = Path(raw)
        result = access(session, ids, out, request_id=request_id)
        counts = {c.collection: c.rows for c in result.collections}
        summary: Summary = {
            "kind": kind.value,
            "rows": result.total_rows,
            "collections": counts,
            "manual": result.manual,
            "categories": categories_report(loaded, counts).to_dict(),
        }
        if kind is Kind.KNOW_CATEGORIES:
            out.unlink(missing_ok=True)
            return summary, None
        return summary, out
    if kind is Kind.DELETE:
        erased = erase(session, ids, request_id=request_id)
        return {"kind": kind.value, **erased.to_dict(), "identities": None}, None
    if kind is Kind.CORRECT:
        changes = parse_sets(f"{k}={v}" for k, v in info.corrections.items())
        fixed = correct(session, ids, changes, request_id=request_id)
        rows = {c: len(r) for c, r in fixed.collection_changes.items()}
        return {"kind": kind.value, "verified": fixed.verified, "rows": rows}, None
    topics = opt_out_topics(loaded, kind)
    if topics:
        opt_out(topics)
    return {"kind": kind.value, "opted_out": [str(t) for t in topics]}, None


def opt_out_topics(loaded: Loaded, kind: Kind) -> list[Topic]:
    """The declared purposes an opt-out withdraws: sale and sharing, or marketing."""
    policy = Policy.from_declaration(loaded.declaration)
    wanted = (
        {Nature.SALE_OR_SHARING}
        if kind is Kind.OPT_OUT_SALE
        else {Nature.MARKETING, Nature.COMMUNICATIONS}
    )
    return sorted(t for t, n in policy.natures.items() if n in wanted)


def manual_tasks(loaded: Loaded, summary: Summary) -> list[tuple[str, str, list[str]]]:
    """(target, kind, checklist) for what a deletion leaves to people.

    Systems the engine cannot reach (no connector, or reached only partly)
    must be searched by hand; recipients the data went to must be told to
    delete it too (CCPA §1798.105(c)(1); regs §7022(b)(3)). When the erasure
    found nothing and no system is out of reach, there is nothing to pass on.
    Public authorities are not asked: what they received, they received under
    a legal obligation (§1798.105(d)(8)).
    """
    manual = set(summary.get("manual") or ())
    found = sum(int(c.get("found", 0)) for c in summary.get("collections", []))
    systems = sorted({s for c in manual if (s := loaded.catalog.collections[c].system)})
    out = [
        (
            system,
            "system",
            [
                f"Search {system} for the person's records",
                "Delete or de-identify them as the declaration says",
                "Record what was found and done as evidence",
            ],
        )
        for system in systems
    ]
    if not found:
        return out
    for recipient in loaded.declaration.recipients:
        if recipient.type == "authority":
            continue  # disclosed under a legal obligation; not theirs to delete on request
        receives = recipient.categories or recipient.sale or recipient.share
        if recipient.type == "service_provider" or receives:
            out.append(
                (
                    recipient.key,
                    "recipient",
                    [
                        f"Tell {recipient.name} to delete the person's data",
                        "Record their confirmation, or why they need not act",
                    ],
                )
            )
    return out


def completion_note(requested: Kind, answered: Kind, summary: Summary) -> str | None:
    """The sentence the completion message adds, if any; never a value from the data."""
    if answered is not requested:
        return (
            "We could not confirm your identity well enough to send the specific pieces"
            " of information, so we answered with the categories of information we hold."
            " The status page lists them."
        )
    if answered is Kind.KNOW_CATEGORIES:
        return "The status page lists the categories of information we hold about you."
    if answered is Kind.DELETE:
        kept = [
            c["held_reason"] or c["kept_reason"]
            for c in summary.get("collections", [])
            if c.get("held") or c.get("kept_reason")
        ]
        reasons = sorted({k for k in kept if k})
        if reasons:
            return "We kept some records because a law requires it: " + "; ".join(reasons)
    return None
