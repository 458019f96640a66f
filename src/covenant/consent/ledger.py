"""The consent ledger: every choice, link and age flag, in Covenant's own database.

Owns the ``consent_records`` table and :class:`ConsentLedger`, the only code
that writes it. Append-only by construction: there is no method to update or
delete a record, so a choice is changed by appending a newer one and the
history stays as proof (GDPR Art. 7(1): the controller must be able to
demonstrate consent). Each append commits before it returns, so an
acknowledged record survives a crash.

It never decides anything (:mod:`covenant.consent.decisions` does) and never
stores raw personal data: people are opaque ``subject_ref`` values chosen by
the store, devices random consent IDs.

Reads are set-based: the history of many subjects comes back in a fixed
number of queries per chunk, never one query per person.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

import sqlalchemy as sa

from covenant.audit.store import UTCDateTime
from covenant.consent.records import Choice, ConsentRecord, Draft, Kind, Method, Topic
from covenant.db import metadata

consent_records = sa.Table(
    "consent_records",
    metadata,
    # SQLite only auto-numbers an INTEGER PRIMARY KEY, not a BIGINT one.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject_ref", sa.String(128), nullable=True),
    sa.Column("consent_id", sa.String(64), nullable=True),
    sa.Column("topic", sa.String(80), nullable=True),
    sa.Column("choice", sa.String(16), nullable=True),
    sa.Column("notice_version", sa.String(64), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("jurisdiction", sa.String(8), nullable=False),
    # Canonical JSON text, at most 2 KiB (checked in records.evidence).
    sa.Column("evidence", sa.Text, nullable=False),
    sa.CheckConstraint("subject_ref IS NOT NULL OR consent_id IS NOT NULL", name="party"),
    sa.Index("ix_consent_records_subject_ref", "subject_ref", "seq"),
    sa.Index("ix_consent_records_consent_id", "consent_id", "seq"),
)

_t = consent_records.c


class ConsentLedger:
    """Append and read consent records in one database.

    ``chunk_size`` bounds the values bound into one ``IN (...)``: well under every
    backend's parameter limit (SQLite's is 32,766 since 3.32).
    """

    def __init__(self, engine: sa.Engine, *, chunk_size: int = 1000) -> None:
        self.engine = engine
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"ConsentLedger({self.engine.url!r})"

    def append(
        self, drafts: Sequence[Draft], *, at: dt.datetime | None = None
    ) -> list[ConsentRecord]:
        """Write ``drafts`` in one transaction, committed before this returns; all or none."""
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        written: list[ConsentRecord] = []
        with self.engine.begin() as conn:
            for draft in drafts:
                result = conn.execute(consent_records.insert().values(at=when, **_row(draft)))
                (seq,) = result.inserted_primary_key or (None,)
                assert seq is not None
                written.append(ConsentRecord(seq=int(seq), at=when, draft=draft))
        return written

    def subject_history(self, subject_ref: str) -> list[ConsentRecord]:
        """Everything that bears on one person: their records, and those of devices
        linked to them that were made without naming anyone."""
        return self.subject_histories([subject_ref]).get(subject_ref, [])

    def device_history(self, consent_id: str) -> list[ConsentRecord]:
        """Everything that bears on one device: its records, and the own records of
        the people it was linked to."""
        with self.engine.connect() as conn:
            links = conn.execute(
                sa.select(_t.subject_ref).where(
                    _t.kind == Kind.LINK.value, _t.consent_id == consent_id
                )
            )
            people = sorted({ref for (ref,) in links if ref is not None})
            query = sa.select(consent_records).where(
                _t.kind != Kind.LINK.value,
                sa.or_(_t.consent_id == consent_id, _t.subject_ref.in_(people)),
            )
            return [_record(row) for row in conn.execute(query.order_by(_t.seq))]

    def subject_histories(
        self, subject_refs: Sequence[str], topics: Iterable[Topic] | None = None
    ) -> dict[str, list[ConsentRecord]]:
        """The history of each of ``subject_refs`` (at most ``chunk_size`` of them), limited
        to choices about ``topics`` (and age flags) when given. Three queries in all."""
        refs = sorted(set(subject_refs))
        if len(refs) > self.chunk_size:
            raise ValueError(f"at most {self.chunk_size} subjects at a time")
        relevant = _relevance(topics)
        found: dict[str, list[ConsentRecord]] = defaultdict(list)
        with self.engine.connect() as conn:
            own = sa.select(consent_records).where(
                _t.subject_ref.in_(refs), _t.kind != Kind.LINK.value, relevant
            )
            for row in conn.execute(own):
                found[row.subject_ref].append(_record(row))
            devices: dict[str, set[str]] = defaultdict(set)
            links = sa.select(_t.subject_ref, _t.consent_id).where(
                _t.kind == Kind.LINK.value, _t.subject_ref.in_(refs)
            )
            for ref, device in conn.execute(links):
                devices[device].add(ref)
            for chunk in _chunks(sorted(devices), self.chunk_size):
                # A device's records count for a person only when made without naming
                # anyone: on a shared computer, another person's choices stay theirs.
                anonymous = sa.select(consent_records).where(
                    _t.consent_id.in_(chunk),
                    _t.subject_ref.is_(None),
                    _t.kind != Kind.LINK.value,
                    relevant,
                )
                for row in conn.execute(anonymous):
                    for ref in devices[row.consent_id]:
                        found[ref].append(_record(row))
        return {ref: sorted(found[ref], key=lambda r: r.order) for ref in refs if ref in found}

    def records(self, *, after: int = 0, limit: int = 1000) -> Iterator[ConsentRecord]:
        """Every record in write order, from just after ``after``: for export and audit."""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(consent_records).where(_t.seq > after).order_by(_t.seq).limit(limit)
                ).all()
            for row in rows:
                yield _record(row)
            if len(rows) < limit:
                return
            after = rows[-1].seq


def _relevance(topics: Iterable[Topic] | None) -> sa.ColumnElement[bool]:
    if topics is None:
        return sa.true()
    return sa.or_(_t.kind == Kind.MINOR.value, _t.topic.in_(sorted(str(t) for t in topics)))


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _row(draft: Draft) -> dict[str, object]:
    return {
        "kind": draft.kind.value,
        "subject_ref": draft.subject_ref,
        "consent_id": draft.consent_id,
        "topic": None if draft.topic is None else str(draft.topic),
        "choice": None if draft.choice is None else draft.choice.value,
        "notice_version": draft.notice_version,
        "method": draft.method.value,
        "jurisdiction": draft.jurisdiction,
        "evidence": draft.evidence,
    }


def _record(row: sa.Row[tuple[object, ...]]) -> ConsentRecord:
    m = row._mapping
    draft = Draft(
        kind=Kind(m["kind"]),
        method=Method(m["method"]),
        jurisdiction=str(m["jurisdiction"]),
        subject_ref=m["subject_ref"],
        consent_id=m["consent_id"],
        topic=None if m["topic"] is None else Topic.parse(str(m["topic"])),
        choice=None if m["choice"] is None else Choice(m["choice"]),
        notice_version=str(m["notice_version"]),
        evidence=str(m["evidence"]),
    )
    return ConsentRecord(seq=int(m["seq"]), at=m["at"], draft=draft)
