"""The audit log's table in Covenant's own database, and the one way to add to it.

Owns ``audit_entries`` and :class:`AuditLog`: appending a sealed entry at the
head of the chain, reading entries back in order, and verifying them. It is
append-only by construction: there is no method to update or delete an
entry, and nothing else in Covenant may write this table. Retention of the
trail itself is a later, audited decision, not a ``DELETE``.

Appends are serialized so two processes can never fork the chain: on
PostgreSQL by a transaction-level advisory lock, on SQLite by ``BEGIN
IMMEDIATE`` (the database's single writer lock), on MariaDB/MySQL by a named
lock (``GET_LOCK``), and on any other database by ``SELECT ... FOR UPDATE``
on the head row. The primary key on ``seq`` is the last guard: if two
writers still pick the same seq, one insert fails and is retried on the new
head.

Other parts of Covenant record an action in the same database transaction
as the action itself (a request's move and its audit entry commit together or
not at all): they open :meth:`AuditLog.transaction`, which takes the append
lock before anything else is written, do their own writes on its connection,
and call :meth:`AuditLog.append_in`. Taking the lock first, in every writer,
is what keeps this free of deadlocks: no writer holds a row lock while it
waits for the audit lock.

The table is created by Covenant's migrations; ``metadata`` is exported for
them (and for ``metadata.create_all`` in tests and the embedded default until
they exist).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from covenant.audit.chain import GENESIS, Anchor, Entry, VerifyResult, seal, verify
from covenant.audit.events import AuditError, AuditEvent
from covenant.db import metadata

KEY_VARIABLE = "COVENANT_AUDIT_KEY"
"""The environment variable holding the chain's HMAC key, when one is used."""

# pg_advisory_xact_lock takes a bigint; any constant works as long as nothing
# else in the database uses it. This one is the ASCII of "covaudit".
_PG_LOCK_ID = 0x636F766175646974


def mysql_lock_name() -> sa.ColumnElement[str]:
    """The named lock of this database's audit log on MariaDB/MySQL.

    GET_LOCK names are global to the server, not the database, so the name
    carries the database's: two stores on one server never wait on each other.
    Names are at most 64 characters.
    """
    return sa.func.left(sa.func.concat("covenant.audit.", sa.func.database()), 64)


# Marks a connection inside AuditLog.transaction(), so append_in can refuse
# one whose transaction does not hold the append lock.
_HOLDS_LOCK = "covenant.audit.holds_append_lock"


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """An aware UTC datetime with microseconds, the same on every backend.

    The hash covers the time to the microsecond, so the column must give back
    exactly what was written: SQLite and MariaDB keep no time zone (UTC is
    stored naive), and MariaDB's DATETIME drops microseconds unless asked.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[dt.datetime]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("audit times must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("subject_ref", sa.String(128), nullable=False),
    # Text rather than JSON: the hash covers these exact bytes, and a JSON
    # column may normalize them (MariaDB, PostgreSQL's jsonb).
    sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_entries_subject_ref", "subject_ref", "seq"),
)


def key_from_env(environ: Mapping[str, str]) -> bytes | None:
    """The HMAC key from ``COVENANT_AUDIT_KEY`` in ``environ``; None when unset.

    Pass ``os.environ`` (or a test's dict). The key is used as its UTF-8
    bytes and must be at least 32 characters: generate one with
    ``python -c "import secrets; print(secrets.token_urlsafe(32))"``.
    """
    value = environ.get(KEY_VARIABLE, "")
    if not value:
        return None
    if len(value) < 32:
        raise AuditError(f"{KEY_VARIABLE} must be at least 32 characters long")
    return value.encode("utf-8")


class AppendContention(AuditError):
    """Another writer kept moving the head of the audit log; the entry was not appended."""


class AuditLog:
    """The hash-chained audit log in one database.

    ``key`` (see :func:`key_from_env`) makes every link an HMAC; it must stay
    the same for the life of the log, since verification uses one key for the
    whole chain.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        key: bytes | None = None,
        page_size: int = 1000,
        attempts: int = 10,
    ) -> None:
        self.engine = engine
        self._key = key
        self.page_size = page_size
        self.attempts = attempts

    def __repr__(self) -> str:
        # Never the key itself.
        return f"AuditLog({self.engine.url!r}, keyed={self._key is not None})"

    def append(self, event: AuditEvent, *, at: dt.datetime | None = None) -> Entry:
        """Record ``event`` at the head of the chain, committed before this returns."""
        when = at or dt.datetime.now(dt.UTC)
        for attempt in range(1, self.attempts + 1):
            try:
                with self.transaction() as conn:
                    return self.append_in(conn, event, at=when)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
                if not _is_contention(exc):
                    raise
                if attempt == self.attempts:
                    raise AppendContention() from exc
            # A short, growing pause lets the writer that won finish.
            time.sleep(0.005 * attempt)
        raise AppendContention()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection in a transaction that holds the append lock; commits on success.

        Do the writes that the audit entry records on this connection, then
        :meth:`append_in`: they all commit together when the block ends, and
        none of them when it raises. The lock is taken first, before any other
        write, so a writer never holds a row lock while it waits for this one.
        Keep the block short: every other append waits for it.

        Not retried: a caller that wants retries on contention re-runs its
        block (``append`` does).
        """
        with self.engine.connect() as conn:
            self._lock_head(conn)
            conn.info[_HOLDS_LOCK] = True
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.info.pop(_HOLDS_LOCK, None)
                self._unlock_head(conn)

    def append_in(self, conn: sa.Connection, event: AuditEvent, *, at: dt.datetime) -> Entry:
        """Add ``event`` at the head of the chain inside the caller's :meth:`transaction`.

        Nothing is committed here: the entry becomes part of the log when the
        caller's transaction commits, and vanishes with it on a rollback.
        Refuses any other connection, whose transaction would not hold the
        append lock (on SQLite, it might not even be a write transaction yet,
        and two writers could read the same head).
        """
        if not conn.info.get(_HOLDS_LOCK):
            raise AuditError("append_in needs a connection from AuditLog.transaction()")
        # A locking read where the dialect has one: it sees the latest
        # committed head even under MariaDB's REPEATABLE READ snapshot.
        head = conn.execute(self._head_query(lock=self._dialect != "sqlite")).first()
        seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
        entry = seal(event, seq=seq, at=at, prev_hash=prev, key=self._key)
        conn.execute(
            audit_entries.insert().values(
                seq=entry.seq,
                at=entry.at,
                action=entry.action,
                actor=entry.actor,
                subject_ref=entry.subject_ref,
                body=entry.body,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )
        return entry

    @property
    def _dialect(self) -> str:
        return self.engine.dialect.name

    def _lock_head(self, conn: sa.Connection) -> None:
        """Take the lock that serializes appends."""
        if self._dialect == "sqlite":
            # pysqlite would begin a deferred transaction at the INSERT, after
            # the head was read; two writers could then read the same head.
            # IMMEDIATE takes the database's write lock before the read.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif self._dialect == "postgresql":
            # Held until commit or rollback. An advisory lock also covers the
            # empty table, where FOR UPDATE would have no row to lock.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_ID)))
        elif self._dialect in ("mysql", "mariadb"):
            # FOR UPDATE alone deadlocks under contention in InnoDB (the
            # waiter's gap lock blocks the holder's insert), so a named lock
            # serializes writers first. It belongs to the session, not the
            # transaction: _unlock_head releases it.
            got = conn.execute(sa.select(sa.func.get_lock(mysql_lock_name(), 30))).scalar()
            if got != 1:
                raise AppendContention()

    def _unlock_head(self, conn: sa.Connection) -> None:
        if self._dialect not in ("mysql", "mariadb"):
            return  # the transaction's end released it
        try:
            conn.rollback()  # no-op after a commit; ends a failed transaction
            conn.execute(sa.select(sa.func.release_lock(mysql_lock_name())))
            conn.rollback()
        except sa.exc.DBAPIError:
            # A pooled session must never keep the lock: close it, which frees it.
            conn.invalidate()

    @staticmethod
    def _head_query(*, lock: bool = False) -> sa.Select[tuple[int, str]]:
        query = (
            sa.select(audit_entries.c.seq, audit_entries.c.hash)
            .order_by(audit_entries.c.seq.desc())
            .limit(1)
        )
        return query.with_for_update() if lock else query

    def head(self) -> Entry | None:
        """The newest entry, or None for an empty log. Its ``(seq, hash)`` is what to anchor."""
        with self.engine.connect() as conn:
            row = conn.execute(
                audit_entries.select().order_by(audit_entries.c.seq.desc()).limit(1)
            ).first()
        return _entry(row) if row else None

    def anchor(self) -> Anchor | None:
        """The head as an :class:`Anchor`, to print or export."""
        entry = self.head()
        return Anchor(entry.seq, entry.hash) if entry else None

    def entries(self, *, since: int = 0, subject_ref: str | None = None) -> Iterator[Entry]:
        """Entries with ``seq > since`` in seq order, streamed a page at a time.

        Keyset pages rather than one server-side cursor: memory stays bounded
        on every backend and no transaction stays open while the caller works.
        ``subject_ref`` narrows to one request's or account's trail.
        """
        after = since
        while True:
            query = audit_entries.select().where(audit_entries.c.seq > after)
            if subject_ref is not None:
                query = query.where(audit_entries.c.subject_ref == subject_ref)
            query = query.order_by(audit_entries.c.seq).limit(self.page_size)
            with self.engine.connect() as conn:
                page = [_entry(row) for row in conn.execute(query)]
            yield from page
            if len(page) < self.page_size:
                return
            after = page[-1].seq

    def verify(self, *, anchor: Anchor | None = None) -> VerifyResult:
        """Check the whole chain from its first entry; see :func:`covenant.audit.chain.verify`."""
        return verify(self.entries(), key=self._key, anchor=anchor)


def _entry(row: sa.Row[tuple[object, ...]] | sa.RowMapping) -> Entry:
    m = row._mapping if isinstance(row, sa.Row) else row
    return Entry(
        seq=m["seq"],
        at=m["at"],
        action=m["action"],
        actor=m["actor"],
        subject_ref=m["subject_ref"],
        body=m["body"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


def _is_contention(exc: sa.exc.DBAPIError) -> bool:
    """Whether ``exc`` means another writer got there first, so a retry can succeed."""
    if isinstance(exc, sa.exc.IntegrityError):
        # The only constraint an append can break is the primary key on seq.
        return True
    orig = exc.orig
    code = getattr(orig, "args", (None,))[0] if orig is not None else None
    sqlstate = getattr(orig, "sqlstate", None)
    return (
        "database is locked" in str(orig)  # SQLite: busy past the timeout
        or code in (1205, 1213)  # MariaDB/MySQL: lock wait timeout, deadlock
        or sqlstate in ("40001", "40P01")  # PostgreSQL: serialization failure, deadlock
    )
