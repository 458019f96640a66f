"""Deciding what a new published version is, and the notice a material change sends.

Pure: given the declaration, the versions already published and the time, it
returns the next :class:`~covenant.notice.versions.Version` (or nothing when the
statement did not change) and the :class:`ChangeNotice` to queue for consumers.
Writing either is :mod:`covenant.notice.store`'s job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from covenant.declaration import Loaded
from covenant.notice import words
from covenant.notice.errors import NoticeError
from covenant.notice.facts import Facts
from covenant.notice.render import markdown
from covenant.notice.statement import build
from covenant.notice.versions import Change, Version, diff, digest, snapshot


@dataclass(frozen=True)
class ChangeNotice:
    """What consumers are told about a material change, and how."""

    version: int
    effective_date: str
    subject: str
    body: str
    channels: list[str]
    reconsent: bool
    """Ask for consent again at the next sign-in (seed P23)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare(loaded: Loaded, history: Sequence[Version], now: dt.datetime) -> Version | None:
    """The version to publish next, or None when nothing a reader sees has changed."""
    facts = Facts(loaded)
    snap = snapshot(facts)
    text = markdown(build(loaded))
    sealed = digest(snap, text)
    last = history[-1] if history else None
    if last is not None and last.digest == sealed:
        return None
    effective = loaded.declaration.organization.effective_date.isoformat()
    if last is not None and effective <= last.effective_date:
        raise NoticeError(
            f"the statement changed since version {last.number} (effective "
            f"{last.effective_date}): set organization.effective_date to the day the new "
            "version takes effect, after that date"
        )
    if last is None:
        changes: tuple[Change, ...] = (Change("first published version", False),)
    else:
        changes = tuple(diff(last.snapshot, snap)) or (Change("wording changed", False),)
    return Version(
        number=(last.number + 1) if last else 1,
        effective_date=effective,
        published_at=now.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
        digest=sealed,
        material=any(c.material for c in changes),
        changes=changes,
        snapshot=snap,
        text=text,
    )


def change_notice(loaded: Loaded, version: Version) -> ChangeNotice:
    """The message announcing a material change, in plain words."""
    d = loaded.declaration
    org = d.organization
    when = words.date(dt.date.fromisoformat(version.effective_date))
    lines = [
        f"We are changing our privacy statement. The new version takes effect on {when}.",
        "",
        "What changes:",
        *[f"- {words.upper_first(c.text)}" for c in version.changes],
        "",
    ]
    if org.statement_url:
        lines.append(f"Read the full statement: {org.statement_url}")
    if d.statement.reconsent_on_material_change:
        lines.append("The next time you sign in, we will ask whether you agree to the changes.")
    lines.append(f"Questions: {org.contacts.privacy_email}")
    return ChangeNotice(
        version=version.number,
        effective_date=version.effective_date,
        subject=f"{org.name}: changes to our privacy statement",
        body="\n".join(lines) + "\n",
        channels=list(d.statement.change_channels),
        reconsent=d.statement.reconsent_on_material_change,
    )
