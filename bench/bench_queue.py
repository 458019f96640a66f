"""Benchmark: verified access requests through the job queue on PostgreSQL.

    python bench/bench_queue.py --requests 1000 --workers 2

Builds the demo store and Covenant's own database on PostgreSQL (fresh each
run), starts ``--workers`` ``covenant worker`` processes, then submits
``--requests`` access requests for distinct customers through the desk and
verifies each (staff verification: the code and data-point steps are the
verification benchmark's business, not this one's). Access requests are
approved automatically on verification, which defers their job.

Reports, from the audit trail's timestamps:

- requests per minute, completed over the window from the first
  verification to the last completion;
- the median and 95th-percentile time from ``verification.passed`` to
  ``request.completed`` for each request;
- for comparison, the engine alone running one access request with its zip
  package in this process, the same traversal as hand-written SQL, and the
  rate two workers would reach if fulfilment were the engine's time alone.

Workers run while requests arrive, as in production: a request waits only
behind those verified before it. The submitting process is one of the
loads on the machine and on the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

import handwritten  # bench/ is on sys.path when this file runs as a script
from covenant.audit import AuditLog
from covenant.declaration import load
from covenant.demo.store import create
from covenant.desk import Desk
from covenant.desk.build import desk_from_settings
from covenant.desk.intake import parse
from covenant.engine.access import access
from covenant.engine.identity import normalize
from covenant.engine.session import Session
from covenant.jobs.queue import ProcrastinateQueue, conninfo, ensure_schema, make_app
from covenant.migrations import upgrade
from covenant.requests.tables import requests
from covenant.settings import Settings

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = secrets.token_urlsafe(48)  # a throwaway key for throwaway databases
HASH_KEY = "bench-hash-key-0123456789abcdef"
OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    args = _args()
    print(_machine(), flush=True)
    store_url = _fresh_database("covenant_bench_queue_store")
    own_url = _fresh_database("covenant_bench_queue_own")
    folder = OUT / "queue"
    store = create(folder, customers=args.customers, seed=1, database_url=store_url)
    print(f"store: {store.total_rows:,} rows for {args.customers:,} customers", flush=True)
    env = _environment(store.declaration, store.url_env, store_url, own_url)
    os.environ.update(env)
    upgrade(sa.make_url(own_url))
    ensure_schema(conninfo(own_url))

    people = _customers(store_url, args.requests + args.baseline)
    if len(people) < args.requests + args.baseline:
        raise SystemExit(
            f"only {len(people)} customers with an e-mail and a phone: raise --customers"
        )
    baseline, people = people[: args.baseline], people[args.baseline :]
    engine_ms, hand_ms = _engine_only(store.declaration, store_url, baseline)

    settings = Settings(config=store.declaration, database_url=own_url, secret_key=SECRET)
    fulfil_ms = _fulfil_only(settings, baseline)
    queue = ProcrastinateQueue(make_app(conninfo(own_url)))
    queue.start()
    desk = desk_from_settings(settings, queue=queue)
    workers = [_worker(env, store.declaration, args.concurrency) for _ in range(args.workers)]
    try:
        _ready(desk.engine, args.workers)
        intake = _submit(desk, people)
        ids = set(intake)
        _wait(desk.engine, ids, timeout=args.timeout)
        spans = _spans(desk.store.audit, ids)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(60)
        queue.stop()
        desk.close()
    _report(args, spans, engine_ms, hand_ms, fulfil_ms)
    print(f"  load average {os.getloadavg()[0]:.1f} at the end (other work on the machine)")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=1, help="jobs at once per worker")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--baseline", type=int, default=30, help="subjects timed for the engine alone")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for completion")
    ns = p.parse_args()
    if ns.customers < ns.requests + ns.baseline:
        p.error("--customers must be at least --requests plus --baseline (one per request)")
    return ns


def _machine() -> str:
    with sa.create_engine(PG_ADMIN).connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, PostgreSQL {version}; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )


def _fresh_database(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _environment(config: Path, url_env: str | None, store_url: str, own_url: str) -> dict[str, str]:
    env = {
        "COVENANT_CONFIG": str(config),
        "COVENANT_DATABASE_URL": own_url,
        "COVENANT_SECRET_KEY": SECRET,
        "COVENANT_HASH_KEY": HASH_KEY,
    }
    if url_env:
        env[url_env] = store_url
    return env


def _customers(store_url: str, n: int) -> list[tuple[str, str]]:
    """E-mail and phone of ``n`` distinct customers: the identities a request gives."""
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT email, phone FROM customers WHERE email IS NOT NULL "
                "AND phone IS NOT NULL ORDER BY id LIMIT :n"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    return [(r.email, r.phone) for r in rows]


def _engine_only(
    config: Path, store_url: str, people: list[tuple[str, str]]
) -> tuple[float, float]:
    """Median ms of one access with its package, engine alone; and the hand-written SQL."""
    loaded = load(config)
    engine = sa.create_engine(store_url)
    full, hand = [], []
    with Session(loaded) as session, tempfile.TemporaryDirectory() as tmp:
        for email, phone in people:
            ids = normalize(
                [("email", email), ("phone", phone)],
                loaded.catalog,
                loaded.declaration.identities,
            )
            start = time.perf_counter()
            access(session, ids, Path(tmp) / "a.zip")
            full.append((time.perf_counter() - start) * 1000)
    with engine.connect() as conn:
        for email, phone in people:
            start = time.perf_counter()
            handwritten.access(conn, email, phone)
            hand.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return statistics.median(full[1:]), statistics.median(hand[1:])


def _fulfil_only(settings: Settings, people: list[tuple[str, str]]) -> float:
    """Median ms of ``Desk.fulfil`` called directly, no queue: engine, package, records, mail."""
    desk = desk_from_settings(settings)  # no queue: approval only moves the request
    try:
        ids = _submit(desk, people, quiet=True)
        times = []
        for request_id in ids:
            start = time.perf_counter()
            desk.fulfil(request_id)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        desk.close()
    return statistics.median(times[1:])


def _worker(env: dict[str, str], config: Path, concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "covenant.jobs", "--config", str(config),
         "--concurrency", str(concurrency)],
        env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _ready(engine: sa.Engine, workers: int, timeout: float = 120) -> None:
    """Wait until every worker has registered: their start-up is not the queue's latency."""
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT count(*) FROM procrastinate_workers")
    while True:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() >= workers:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"the {workers} workers did not start within {timeout:.0f} s")
        time.sleep(0.2)


def _submit(desk: Desk, people: list[tuple[str, str]], *, quiet: bool = False) -> list[str]:
    """Submit and verify one access request per person; the ids, in order."""
    ids = []
    start = time.perf_counter()
    for email, phone in people:
        request = desk.submit(parse({"kind": "access", "email": email, "phone": phone}))
        desk.verify_by_staff(request.id, actor="staff:bench")
        ids.append(request.id)
    seconds = time.perf_counter() - start
    if quiet:
        return ids
    print(
        f"intake: {len(ids):,} requests submitted and verified in {seconds:.1f} s "
        f"({len(ids) / seconds * 60:,.0f}/min)",
        flush=True,
    )
    return ids


def _wait(engine: sa.Engine, ids: set[str], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = (
        sa.select(sa.func.count())
        .select_from(requests)
        .where(requests.c.state == "completed", requests.c.id.in_(ids))
    )
    done = 0
    while done < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done} of {len(ids)} completed within {timeout:.0f} s")
        time.sleep(1)
        with engine.connect() as conn:
            done = conn.execute(query).scalar_one()
        print(f"\rcompleted: {done:,}/{len(ids):,}", end="", flush=True)
    print(flush=True)


def _spans(audit: AuditLog, ids: set[str]) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """For each request: when it was verified and when it completed, from the audit trail."""
    verified: dict[str, dt.datetime] = {}
    completed: dict[str, dt.datetime] = {}
    for entry in audit.entries():
        if entry.subject_ref not in ids:
            continue
        if entry.action == "verification.passed":
            verified[entry.subject_ref] = entry.at
        elif entry.action == "request.completed":
            completed[entry.subject_ref] = entry.at
    return {i: (verified[i], completed[i]) for i in ids}


def _report(
    args: argparse.Namespace,
    spans: dict[str, tuple[dt.datetime, dt.datetime]],
    engine_ms: float,
    hand_ms: float,
    fulfil_ms: float,
) -> None:
    latencies = sorted((done - start).total_seconds() for start, done in spans.values())
    window = (
        max(done for _, done in spans.values()) - min(start for start, _ in spans.values())
    ).total_seconds()
    rate = len(spans) / window * 60
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[-1]
    slots = args.workers * args.concurrency
    ceiling = slots * 60_000 / fulfil_ms
    print(
        f"\n{len(spans):,} access requests, {args.workers} workers x {args.concurrency}:\n"
        f"  throughput: {rate:,.0f} requests/min (first verified to last completed: {window:.1f} s)\n"
        f"  verified -> completed: median {statistics.median(latencies):.2f} s, "
        f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s\n"
        f"  engine alone, one access with its zip: {engine_ms:.1f} ms (median); "
        f"hand-written SQL, same rows: {hand_ms:.1f} ms; ratio {engine_ms / hand_ms:.2f}x\n"
        f"  Desk.fulfil called directly, no queue (engine, package, records, mail): "
        f"{fulfil_ms:.1f} ms (median)\n"
        f"  {slots} slots running Desk.fulfil back to back would do {ceiling:,.0f} requests/min; "
        f"the queue reached {rate / ceiling:.0%} of that",
        flush=True,
    )


if __name__ == "__main__":
    main()
