"""Decisions read in batches on the event loop, for PostgreSQL.

Owns :class:`BatchedReader`: the read behind ``GET /api/v1/consent/decision`` and
``/email`` when Covenant's own database is PostgreSQL. Each question waits in a
queue; a few connections per worker process take everything queued, answer it
with one statement, and hand each question its rows. Nothing is held back to fill
a batch: a question arriving at an idle reader goes to the database at once, and
batches grow only while the database is busy with the previous one. Under load, a
thousand concurrent decisions cost a few round trips instead of a thousand, and the
worker's event loop keeps answering HTTP while it waits (the synchronous read it
replaces blocked the loop for every round trip).

The statement answers exactly what :meth:`ConsentLedger.newest` answers for one
topic (the newest choice about the topic and the newest minor flag, among the
records that bear on the subject, the device, or both), once per question, through
``unnest ... WITH ORDINALITY`` and a ``LATERAL`` join. ``tests/test_consent_ledger.py``
checks on random ledgers that its answers equal ``decide`` over the whole history.

It reads, never writes, and answers with :class:`ConsentRecord` values; deciding
stays in :mod:`covenant.consent.decisions`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections import defaultdict, deque
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from covenant.consent.ledger import record_from
from covenant.consent.records import ConsentRecord, Kind, Topic

_COLUMNS = (
    "seq, at, kind, subject_ref, consent_id, topic, choice, "
    "notice_version, method, jurisdiction, evidence"
)
_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))
_LINK, _MINOR = Kind.LINK.value, Kind.MINOR.value
_RELEVANT = f"c.kind <> '{_LINK}' AND (c.kind = '{_MINOR}' OR c.topic = q.topic)"

# The four ways a record bears on a question, as ConsentLedger.newest defines them:
# the subject's own records; records its linked devices made without naming anyone;
# the device's own records; the own records of people linked to the device. A NULL
# subject or device matches nothing, so one statement serves every shape of question.
NEWEST_SQL = f"""
SELECT q.i, f.{_COLUMNS.replace(", ", ", f.")}
FROM unnest(%(subjects)s::text[], %(devices)s::text[], %(topics)s::text[])
     WITH ORDINALITY AS q(subject, device, topic, i)
CROSS JOIN LATERAL (
  SELECT DISTINCT ON (r.kind, r.topic) r.*
  FROM (
    SELECT c.* FROM consent_records c
     WHERE c.subject_ref = q.subject AND {_RELEVANT}
    UNION ALL
    SELECT c.* FROM consent_records l
      JOIN consent_records c ON c.consent_id = l.consent_id AND c.subject_ref IS NULL
     WHERE l.kind = '{_LINK}' AND l.subject_ref = q.subject AND {_RELEVANT}
    UNION ALL
    SELECT c.* FROM consent_records c
     WHERE c.consent_id = q.device AND {_RELEVANT}
    UNION ALL
    SELECT c.* FROM consent_records l
      JOIN consent_records c ON c.subject_ref = l.subject_ref
     WHERE l.kind = '{_LINK}' AND l.consent_id = q.device AND {_RELEVANT}
  ) r
  ORDER BY r.kind, r.topic, r.at DESC, r.seq DESC
) f
"""

Question = tuple[str | None, str | None, str]


class _Lane:
    """The queue and connections of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: deque[tuple[Question, asyncio.Future[list[ConsentRecord]]]] = deque()
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.running = 0
        self.tasks: set[asyncio.Task[None]] = set()
        # A lane dropped without close() (its loop ended, or the app was let go without a
        # shutdown) still hangs up its connections, rather than leaving them to the server.
        weakref.finalize(self, _hang_up, self.idle)


class BatchedReader:
    """Answers :meth:`newest` for many concurrent questions with one statement per batch.

    ``connections`` bounds the statements in flight from this process (and the
    database connections it holds); ``max_batch`` the questions in one statement.
    Connections open on first use, in the event loop that asks; a later loop gets
    its own (an in-process test client runs one loop per client).
    """

    def __init__(self, conninfo: str, *, connections: int = 2, max_batch: int = 500) -> None:
        if connections < 1 or max_batch < 1:
            raise ValueError("connections and max_batch must be at least 1")
        self._conninfo = conninfo
        self._connections = connections
        self._max_batch = max_batch
        self._lane: _Lane | None = None

    def __repr__(self) -> str:
        return f"BatchedReader(connections={self._connections}, max_batch={self._max_batch})"

    async def newest(
        self, topic: Topic, *, subject_ref: str | None, consent_id: str | None
    ) -> list[ConsentRecord]:
        """What :meth:`ConsentLedger.newest` returns for ``[topic]``, read in a batch."""
        if subject_ref is None and consent_id is None:
            return []
        loop = asyncio.get_running_loop()
        lane = self._lane
        if lane is None or lane.loop is not loop:
            lane = self._lane = _Lane(loop)
        answer: asyncio.Future[list[ConsentRecord]] = loop.create_future()
        lane.pending.append(((subject_ref, consent_id, str(topic)), answer))
        if lane.running < self._connections:
            lane.running += 1
            task = loop.create_task(self._drain(lane))
            lane.tasks.add(task)  # a task without a reference may be collected mid-run
            task.add_done_callback(lane.tasks.discard)
        return await answer

    async def close(self) -> None:
        """Close this loop's idle connections; those in use close when their batch ends."""
        lane, self._lane = self._lane, None
        if lane is None:
            return
        while lane.idle:
            await lane.idle.pop().close()

    def hang_up(self) -> None:
        """:meth:`close` without an event loop (a shutdown that runs in a thread)."""
        lane, self._lane = self._lane, None
        if lane is not None:
            _hang_up(lane.idle)

    async def _drain(self, lane: _Lane) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            while lane.pending:
                take = min(len(lane.pending), self._max_batch)
                batch = [lane.pending.popleft() for _ in range(take)]
                try:
                    if conn is None:
                        conn = await self._connection(lane)
                    found = await _run(conn, [q for q, _ in batch])
                except BaseException as exc:
                    # Each waiting request gets the error, as its own read would have; a
                    # connection that failed mid-statement is never used again.
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(
                                exc if isinstance(exc, Exception) else asyncio.CancelledError()
                            )
                    if conn is not None:
                        await conn.close()
                        conn = None
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for n, (_, answer) in enumerate(batch, start=1):
                    if not answer.done():  # the client may have gone
                        answer.set_result(found.get(n, []))
        finally:
            lane.running -= 1
            if conn is not None:
                if self._lane is lane:
                    lane.idle.append(conn)
                else:  # closed meanwhile
                    await conn.close()

    async def _connection(self, lane: _Lane) -> psycopg.AsyncConnection[Any]:
        while lane.idle:
            conn = lane.idle.pop()
            if not conn.closed:
                return conn
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, row_factory=tuple_row
        )


def _hang_up(connections: list[psycopg.AsyncConnection[Any]]) -> None:
    """Close without the event loop: libpq's own close, which needs no round trip."""
    while connections:
        conn = connections.pop()  # held: dropped before finish(), it would warn as left open
        conn.pgconn.finish()


async def _run(
    conn: psycopg.AsyncConnection[Any], questions: list[Question]
) -> dict[int, list[ConsentRecord]]:
    params = {
        "subjects": [s for s, _, _ in questions],
        "devices": [d for _, d, _ in questions],
        "topics": [t for _, _, t in questions],
    }
    found: dict[int, list[ConsentRecord]] = defaultdict(list)
    cursor = await conn.execute(NEWEST_SQL, params, prepare=True)
    for row in await cursor.fetchall():
        mapping = dict(zip(_NAMES, row[1:], strict=True))
        mapping["at"] = mapping["at"].astimezone(dt.UTC)
        found[int(row[0])].append(record_from(mapping))
    return found
