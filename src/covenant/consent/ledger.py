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
number of queries per chunk, never one query per person. The hot questions
(one decision, the bulk filter) read only what :func:`~covenant.consent.decisions.decide`
looks at: the newest choice about each topic asked and whether a minor flag
exists, in one statement ranked with ``ROW_NUMBER()`` (SQL:2003 window
functions: PostgreSQL, MariaDB 10.2+, SQLite 3.25+).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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


@dataclass(frozen=True, slots=True)
class Standing:
    """What one subject's newest records say about one topic: all a bulk decision reads."""

    minor: bool
    """A minor flag is on record for the subject or a device linked to it."""
    choice: Choice | None
    """The newest choice about the topic, None when there is none."""


NO_STANDING = Standing(minor=False, choice=None)


def autocommit_reader(url: sa.URL) -> sa.Engine | None:
    """On PostgreSQL, a pool of autocommit connections for the one-statement reads
    (:meth:`ConsentLedger.newest`, :meth:`ConsentLedger.standings`); None elsewhere.

    A single SELECT needs no transaction: autocommit saves the ``BEGIN`` before it
    and the ``ROLLBACK`` when the connection returns to the pool, two of the three
    round trips of a decision. Set once per connection at connect time, not per
    checkout (which would cost a ``SET`` round trip each time on some drivers).
    """
    if url.get_backend_name() != "postgresql":
        return None
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


class ConsentLedger:
    """Append and read consent records in one database.

    ``chunk_size`` bounds the values bound into one ``IN (...)``: well under every
    backend's parameter limit (SQLite's is 32,766 since 3.32). ``reader``, when given,
    runs the one-statement reads (see :func:`autocommit_reader`); ``dispose`` closes both.
    """

    def __init__(
        self, engine: sa.Engine, *, chunk_size: int = 1000, reader: sa.Engine | None = None
    ) -> None:
        self.engine = engine
        self.chunk_size = chunk_size
        self.reader = reader or engine

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self.reader.dispose()

    def __repr__(self) -> str:
        return f"ConsentLedger({self.engine.url!r})"

    def append(
        self, drafts: Sequence[Draft], *, at: dt.datetime | None = None
    ) -> list[ConsentRecord]:
        """Write ``drafts`` in one transaction, committed before this returns; all or none.

        One multi-row ``INSERT ... RETURNING`` (SQLAlchemy's "insertmanyvalues"), its
        sequence numbers matched to the drafts by position; where a backend cannot
        promise that order SQLAlchemy falls back to a row at a time, in the same
        transaction.
        """
        if not drafts:
            return []
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        insert = consent_records.insert().returning(_t.seq, sort_by_parameter_order=True)
        with self.engine.begin() as conn:
            seqs = conn.execute(insert, [{"at": when, **_row(d)} for d in drafts]).scalars().all()
        if len(seqs) != len(drafts):  # pragma: no cover - a driver breaking its contract
            raise RuntimeError("the database did not number every record written")
        return [
            ConsentRecord(seq=int(seq), at=when, draft=draft)
            for seq, draft in zip(seqs, drafts, strict=True)
        ]

    def newest(
        self,
        topics: Iterable[Topic],
        *,
        subject_ref: str | None = None,
        consent_id: str | None = None,
    ) -> list[ConsentRecord]:
        """The newest choice about each of ``topics``, and the newest minor flag, among
        everything that bears on the subject, the device, or both (as
        :meth:`subject_history` and :meth:`device_history` define it). One statement.

        :func:`~covenant.consent.decisions.decide` gives the same answer on these few
        records as on the whole history: it reads only the newest choice about its
        topic and whether any minor flag exists.
        """
        query = _newest_params(topics, subject_ref, consent_id)
        if query is None:
            return []
        with self.reader.connect() as conn:
            return [_record(row) for row in conn.execute(*query)]

    def standings(self, subject_refs: Sequence[str], topic: Topic) -> dict[str, Standing]:
        """For each of ``subject_refs`` (at most ``chunk_size``) with any record that bears
        on ``topic``: whether a minor flag exists and the newest choice. One statement;
        subjects with nothing relevant are left out."""
        refs = sorted(set(subject_refs))
        if len(refs) > self.chunk_size:
            raise ValueError(f"at most {self.chunk_size} subjects at a time")
        if not refs:
            return {}
        minors: set[str] = set()
        choices: dict[str, Choice] = {}
        with self.reader.connect() as conn:
            statement = _standings_statement(conn.dialect.name == "postgresql")
            rows = conn.execute(statement, {"refs": refs, "topics": [str(topic)]})
            for ref, kind, choice in rows:
                if kind == Kind.MINOR.value:
                    minors.add(ref)
                else:
                    choices[ref] = Choice(choice)
        return {
            ref: Standing(minor=ref in minors, choice=choices.get(ref))
            for ref in minors | choices.keys()
        }

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


_link = consent_records.alias("l")
_relevant = sa.and_(
    _t.kind != Kind.LINK.value,
    sa.or_(_t.kind == Kind.MINOR.value, _t.topic.in_(sa.bindparam("topics", expanding=True))),
)
"""Records that can decide a question about the ``topics`` parameter."""


def _newest_params(
    topics: Iterable[Topic], subject_ref: str | None, consent_id: str | None
) -> tuple[sa.Select[tuple[object, ...]], dict[str, object]] | None:
    if subject_ref is None and consent_id is None:
        return None
    statement = _newest_statement(subject_ref is not None, consent_id is not None)
    params: dict[str, object] = {
        "topics": sorted({str(t) for t in topics}),
        "subject": subject_ref,
        "device": consent_id,
    }
    return statement, params


@cache
def _newest_statement(by_subject: bool, by_device: bool) -> sa.Select[tuple[object, ...]]:
    """The newest record of each kind and topic among those bearing on the ``subject``
    and/or ``device`` parameters. Built once per shape: the same statement object keeps
    SQLAlchemy's compiled cache warm and the SQL text the same, so psycopg prepares it
    on the server after a few runs.

    The ways a record bears are those of :meth:`ConsentLedger.subject_history` (own
    records; a linked device's records made without naming anyone) and
    :meth:`ConsentLedger.device_history` (the device's records; the own records of
    people linked to it). A record found twice ranks the same both times.
    """
    parts: list[sa.Select[tuple[object, ...]]] = []
    if by_subject:
        subject = sa.bindparam("subject", type_=sa.String)
        devices = sa.select(_link.c.consent_id).where(
            _link.c.kind == Kind.LINK.value, _link.c.subject_ref == subject
        )
        parts.append(sa.select(consent_records).where(_relevant, _t.subject_ref == subject))
        parts.append(
            sa.select(consent_records).where(
                _relevant, _t.consent_id.in_(devices), _t.subject_ref.is_(None)
            )
        )
    if by_device:
        device = sa.bindparam("device", type_=sa.String)
        people = sa.select(_link.c.subject_ref).where(
            _link.c.kind == Kind.LINK.value, _link.c.consent_id == device
        )
        parts.append(sa.select(consent_records).where(_relevant, _t.consent_id == device))
        parts.append(sa.select(consent_records).where(_relevant, _t.subject_ref.in_(people)))
    found = sa.union_all(*parts).subquery("found")
    rank = (
        sa.func.row_number()
        .over(partition_by=(found.c.kind, found.c.topic), order_by=_newest_first(found))
        .label("rank")
    )
    ranked = sa.select(found, rank).subquery("ranked")
    columns = [ranked.c[c.name] for c in consent_records.c]
    return sa.select(*columns).where(ranked.c.rank == 1)


@cache
def _standings_statement(array: bool) -> sa.Select[tuple[str, str, str]]:
    """Per subject in the ``refs`` parameter, its newest choice about the ``topics``
    parameter and its newest minor flag: its own records and those its linked devices
    made without naming anyone (as :meth:`ConsentLedger.subject_history`).

    ``array`` (PostgreSQL) binds the references as one array, ``= ANY(:refs)``: an
    ``IN`` list of a thousand placeholders costs psycopg more to convert, per chunk,
    than the query costs the server.
    """

    def among(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        if array:
            return column == sa.any_(sa.bindparam("refs", type_=postgresql.ARRAY(sa.String)))
        return column.in_(sa.bindparam("refs", type_=sa.String, expanding=True))

    own = sa.select(_t.subject_ref.label("ref"), _t.kind, _t.choice, _t.at, _t.seq).where(
        _relevant, among(_t.subject_ref)
    )
    anonymous = (
        sa.select(_link.c.subject_ref.label("ref"), _t.kind, _t.choice, _t.at, _t.seq)
        .select_from(
            _link.join(
                consent_records,
                sa.and_(_t.consent_id == _link.c.consent_id, _t.subject_ref.is_(None)),
            )
        )
        .where(_relevant, _link.c.kind == Kind.LINK.value, among(_link.c.subject_ref))
    )
    found = sa.union_all(own, anonymous).subquery("found")
    rank = (
        sa.func.row_number()
        .over(partition_by=(found.c.ref, found.c.kind), order_by=_newest_first(found))
        .label("rank")
    )
    ranked = sa.select(found.c.ref, found.c.kind, found.c.choice, rank).subquery("ranked")
    return sa.select(ranked.c.ref, ranked.c.kind, ranked.c.choice).where(ranked.c.rank == 1)


def _newest_first(found: sa.Subquery) -> tuple[sa.UnaryExpression[object], ...]:
    # ConsentRecord.order: by time, then by the order written.
    return (found.c.at.desc(), found.c.seq.desc())


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
    return record_from(row._mapping)


def record_from(m: Mapping[Any, Any]) -> ConsentRecord:
    """A record from its columns by name, as any reader of ``consent_records`` gets them."""
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
