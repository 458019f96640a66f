"""Benchmark: the consent service over real HTTP on PostgreSQL, against hand-written SQL.

    python bench/bench_consent.py --people 1000000 --workers 1 --workers 2

Creates a fresh PostgreSQL database as Covenant's own (dropped at the end),
pre-loads the ledger through ``ConsentLedger.append`` in batches, starts
``uvicorn`` serving ``create_app`` from a copy of the audio store's declaration,
and drives it from a second process with ``wrk`` (installed from Debian when
missing and running as root; otherwise an asyncio ``httpx`` client). It reports:

(a) decisions per second over HTTP (``GET /api/v1/consent/decision``), with p50
    and p99 latency, per worker count; the baseline is the same decision as one
    SQL query through psycopg, from as many processes as there are workers;
(b) durable record writes per second (``POST /api/v1/consent``, each committed
    with ``synchronous_commit = on``); the baseline is one INSERT and COMMIT per
    record through psycopg;
(c) the bulk marketable filter of ``--addresses`` references in seconds
    (``ConsentEngine.marketable``), against one hand-written query after a COPY.

Each figure is printed with its ratio to the baseline, and the machine with them.
The targets from the issue: at least 5,000 decisions/s with p99 at or under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from covenant.consent.engine import ConsentEngine
from covenant.consent.ledger import ConsentLedger, _row, autocommit_reader, consent_records
from covenant.consent.records import Choice, Draft, Kind, Method, Topic
from covenant.db import connect
from covenant.declaration import load
from covenant.migrations import upgrade

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "covenant_bench_consent"
AUDIO = Path(__file__).parent.parent / "examples" / "audio-store"
API_KEY = "bench-api-key-0123456789abcdef0123"
SECRET = "bench-secret-" + "s" * 40
TOPIC = "purpose:marketing"
"""The audio store's e-mail purpose (marketing.communications): opt-in everywhere."""


def main() -> None:
    args = _args()
    print(_machine(), flush=True)
    url = _create_database()
    workdir = Path(tempfile.mkdtemp(prefix="covenant-bench-"))
    try:
        config = _declaration_copy(workdir)
        upgrade(sa.make_url(url))
        results: dict[str, Any] = {"preload": _preload(url, args.people, args.seed)}
        for workers in [] if args.skip_http else args.workers:
            results[f"http_workers_{workers}"] = _http(url, config, workers, args)
        results["bulk_filter"] = _bulk(url, config, args.addresses, args.seed)
        print("\n" + json.dumps(results, indent=2), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        _drop_database()


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--people", type=int, default=1_000_000, help="people in the ledger")
    p.add_argument("--addresses", type=int, default=1_000_000, help="references to filter")
    p.add_argument("--workers", type=int, action="append", help="uvicorn worker processes")
    p.add_argument("--seconds", type=int, default=20, help="length of each HTTP run")
    p.add_argument("--connections", type=int, default=64, help="open HTTP connections")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-http", action="store_true", help="only the pre-load and the filter")
    ns = p.parse_args()
    ns.workers = ns.workers or [1, 2]
    return ns


# ---- the machine and the database ---------------------------------------------------------


def _machine() -> str:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    with psycopg.connect(_libpq(PG_ADMIN)) as conn:
        (pg,) = conn.execute("SHOW server_version").fetchone() or ("?",)
        (sync,) = conn.execute("SHOW synchronous_commit").fetchone() or ("?",)
    cores = len(os.sched_getaffinity(0))
    return (
        f"machine: {cores} cores usable ({os.cpu_count()} online), {int(mem) / 1024**2:.1f} GiB RAM, "
        f"{platform.processor() or platform.machine()}, Linux {platform.release()}\n"
        f"Python {platform.python_version()}, PostgreSQL {pg} (synchronous_commit={sync}), "
        f"load generator: {'wrk' if shutil.which('wrk') else 'httpx (asyncio)'}"
    )


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg's own connection string."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _create_database() -> str:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {DB_NAME}"))
    admin.dispose()
    return sa.make_url(PG_ADMIN).set(database=DB_NAME).render_as_string(hide_password=False)


def _drop_database() -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
    admin.dispose()


def _declaration_copy(workdir: Path) -> Path:
    """The audio store's declaration in a scratch folder: the service writes nothing
    beside the example itself."""
    target = workdir / "audio-store"
    shutil.copytree(AUDIO, target)
    return target / "covenant.yml"


# ---- the ledger -------------------------------------------------------------------------------


def ref(i: int) -> str:
    """An opaque reference, as a store would send a keyed hash of an address."""
    return f"ref-{i:08d}"


def _drafts(people: int, seed: int) -> Iterator[Draft]:
    """A ledger shaped like a store's: most people chose about e-mail, some opted out of
    advertising, a few are known minors, some signed in on a device that chose first."""
    rng = random.Random(seed)
    marketing, ads, analytics = (
        Topic.parse(TOPIC),
        Topic("category", "advertising"),
        Topic("category", "analytics"),
    )

    def choice(i: int, topic: Topic, value: Choice, method: Method = Method.FORM) -> Draft:
        return Draft(
            kind=Kind.CHOICE,
            method=method,
            jurisdiction="us-ca",
            subject_ref=ref(i),
            topic=topic,
            choice=value,
            notice_version="1",
            evidence='{"form":"account"}',
        )

    for i in range(people):
        roll = rng.random()
        if roll < 0.6:
            yield choice(i, marketing, Choice.GRANTED, Method.SIGN_UP)
            if rng.random() < 0.15:
                yield choice(i, marketing, Choice.WITHDRAWN)
        elif roll < 0.8:
            yield choice(i, marketing, Choice.DENIED, Method.SIGN_UP)
        if rng.random() < 0.1:
            yield choice(i, ads, Choice.DENIED, Method.BANNER)
        if rng.random() < 0.01:
            yield Draft(
                kind=Kind.MINOR, method=Method.STAFF, jurisdiction="us-ca", subject_ref=ref(i)
            )
        if rng.random() < 0.02:
            device = f"dev-{i:012d}"
            yield Draft(
                kind=Kind.CHOICE,
                method=Method.BANNER,
                jurisdiction="us-ca",
                consent_id=device,
                topic=analytics,
                choice=Choice.DENIED,
                notice_version="1",
            )
            yield Draft(
                kind=Kind.LINK,
                method=Method.SIGN_IN,
                jurisdiction="us-ca",
                subject_ref=ref(i),
                consent_id=device,
            )


def _preload(url: str, people: int, seed: int, sample: int = 20_000) -> dict[str, Any]:
    """The first ``sample`` records through ``ConsentLedger.append`` (1,000 a transaction),
    to time it; the rest as plain multi-row inserts into the ledger's own table, the
    baseline: ``append`` also returns each record's sequence number, in order."""
    engine = connect(sa.make_url(url))
    ledger = ConsentLedger(engine)
    drafts = _drafts(people, seed)
    started = time.perf_counter()
    first = 0
    while first < sample and (batch := list(itertools.islice(drafts, 1000))):
        first += len(ledger.append(batch))
    append_rate = first / (time.perf_counter() - started)
    started = time.perf_counter()
    rest = 0
    while batch := list(itertools.islice(drafts, 10_000)):
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            conn.execute(consent_records.insert(), [{**_row(d), "at": now} for d in batch])
        rest += len(batch)
    bulk_rate = rest / (time.perf_counter() - started)
    engine.dispose()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE consent_records")
    print(
        f"\npre-loaded {first + rest:,} records for {people:,} people: "
        f"ConsentLedger.append {append_rate:,.0f} records/s (first {first:,}), "
        f"multi-row insert {bulk_rate:,.0f} records/s (the other {rest:,})",
        flush=True,
    )
    return {
        "records": first + rest,
        "people": people,
        "append_per_s": round(append_rate),
        "multirow_insert_per_s": round(bulk_rate),
    }


# ---- (a), (b): over HTTP ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app() -> Any:
    """The service as ``covenant serve`` builds it, for ``uvicorn --factory``: settings
    come from the ``COVENANT_*`` environment the bench sets."""
    from covenant.settings import Settings
    from covenant.web import create_app

    return create_app(Settings())


class Server:
    def __init__(self, url: str, config: Path, workers: int) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "COVENANT_CONFIG": str(config),
            "COVENANT_DATABASE_URL": url,
            "COVENANT_API_KEY": API_KEY,
            "COVENANT_SECRET_KEY": SECRET,
            "COVENANT_JOBS": "inprocess",
            "PYTHONPATH": str(Path(__file__).parent),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", "bench_consent:app",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(workers), "--log-level", "warning", "--no-access-log",
            ],
            env=env,
            start_new_session=True,
        )  # fmt: skip
        self._wait()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit("uvicorn exited before listening") from None
                time.sleep(0.2)
        raise SystemExit("uvicorn did not start listening within 60 s")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


def _http(url: str, config: Path, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n== over HTTP, uvicorn --workers {workers}, {args.connections} connections ==")
    server = Server(url, config, workers)
    try:
        _warm(server.base, args.people)
        decisions = _load(server.base, "decision", args.people, args.seconds, args.connections)
        base = _baseline_decisions(url, workers, args.people, args.seconds)
        _report("decisions", decisions, base)
        before = _count(url)
        writes = _load(server.base, "write", args.people, args.seconds, args.connections // 4)
        written = _count(url) - before
        # Requests still in flight when the load generator stops are written but not
        # counted by it; an acknowledged write missing from the table would be a failure.
        if written < writes["ok"]:
            raise SystemExit(f"{writes['ok']} writes acknowledged but only {written} rows found")
        write_base = _baseline_writes(url, workers, args.seconds)
        _report("durable writes", writes, write_base)
        return {"decisions": decisions, "decisions_baseline": base, "writes": writes,
                "writes_baseline": write_base}  # fmt: skip
    finally:
        server.stop()


def _report(what: str, got: dict[str, Any], base: dict[str, Any]) -> None:
    print(
        f"{what}: {got['rate']:,.0f}/s, p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms "
        f"| hand-written psycopg: {base['rate']:,.0f}/s, p50 {base['p50_ms']:.2f} ms, "
        f"p99 {base['p99_ms']:.2f} ms | ratio {base['rate'] / got['rate']:.1f}x",
        flush=True,
    )


def _warm(base: str, people: int) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {API_KEY}"}) as c:
        for i in range(50):
            r = c.get(
                "/api/v1/consent/decision",
                params={"subject": ref(i % people), "purpose": "marketing"},
            )
            r.raise_for_status()


def _count(url: str) -> int:
    with psycopg.connect(_libpq(url)) as conn:
        (n,) = conn.execute("SELECT count(*) FROM consent_records").fetchone() or (0,)
    return int(n)


_LUA = """
wrk.headers["Authorization"] = "Bearer %(key)s"
local people = %(people)d
local kind = "%(kind)s"
local n = 0
local function ref(i) return string.format("ref-%%08d", i) end
request = function()
  n = n + 1
  if kind == "decision" then
    local path = "/api/v1/consent/decision?purpose=marketing&subject=" .. ref(math.random(0, people - 1))
    return wrk.format("GET", path)
  end
  local body = '{"subject":"w-' .. math.random(1, 1e9) .. '-' .. n .. '","choices":[{"purpose":"marketing","choice":"granted"}],"notice_version":"1","method":"form","jurisdiction":"us-ca"}'
  return wrk.format("POST", "/api/v1/consent", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(key)s"}, body)
end
"""


def _load(base: str, kind: str, people: int, seconds: int, connections: int) -> dict[str, Any]:
    if shutil.which("wrk"):
        return _wrk(base, kind, people, seconds, connections)
    return _httpx_load(base, kind, people, seconds, connections)


def _wrk(base: str, kind: str, people: int, seconds: int, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % {"key": API_KEY, "people": people, "kind": kind})
    try:
        out = subprocess.run(
            # A 10 s timeout, not wrk's 2 s: a slow answer then counts in the latencies
            # (wrk leaves timed-out requests out of them) instead of ending the run.
            [shutil.which("wrk") or "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", script.name, base],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise SystemExit(f"wrk saw failures:\n{out}")

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rate": rate, "ok": total, "p50_ms": pct("50"), "p99_ms": pct("99")}


def _httpx_load(
    base: str, kind: str, people: int, seconds: int, connections: int
) -> dict[str, Any]:
    """The fallback load generator: a separate process, keep-alive, ``connections`` at once."""
    with mp.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(_httpx_run, (base, kind, people, seconds, connections))
    return result


def _httpx_run(base: str, kind: str, people: int, seconds: int, connections: int) -> dict[str, Any]:
    import httpx

    async def run() -> dict[str, Any]:
        latencies: list[float] = []
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        headers = {"authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as c:
            end = time.perf_counter() + seconds

            async def one(n: int) -> None:
                rng = random.Random(n)
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    if kind == "decision":
                        params = {"subject": ref(rng.randrange(people)), "purpose": "marketing"}
                        r = await c.get("/api/v1/consent/decision", params=params)
                    else:
                        body = {
                            "subject": f"w-{n}-{rng.random()}",
                            "choices": [{"purpose": "marketing", "choice": "granted"}],
                            "notice_version": "1",
                            "method": "form",
                            "jurisdiction": "us-ca",
                        }
                        r = await c.post("/api/v1/consent", json=body)
                    r.raise_for_status()
                    latencies.append(time.perf_counter() - t)

            started = time.perf_counter()
            await asyncio.gather(*(one(n) for n in range(connections)))
            elapsed = time.perf_counter() - started
        return _summary(latencies, elapsed)

    return asyncio.run(run())


def _summary(latencies: Sequence[float], elapsed: float) -> dict[str, Any]:
    q = statistics.quantiles(latencies, n=100)
    return {
        "rate": len(latencies) / elapsed,
        "ok": len(latencies),
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
    }


# ---- the hand-written baselines ---------------------------------------------------------------

DECISION_SQL = """
WITH h AS (
  SELECT c.kind, c.choice, c.at, c.seq FROM consent_records c
   WHERE c.subject_ref = %(s)s AND c.kind <> 'link' AND (c.kind = 'minor' OR c.topic = %(t)s)
  UNION ALL
  SELECT c.kind, c.choice, c.at, c.seq FROM consent_records l
    JOIN consent_records c ON c.consent_id = l.consent_id AND c.subject_ref IS NULL
     AND c.kind <> 'link' AND (c.kind = 'minor' OR c.topic = %(t)s)
   WHERE l.kind = 'link' AND l.subject_ref = %(s)s
)
SELECT EXISTS (SELECT 1 FROM h WHERE kind = 'minor'),
       (SELECT choice FROM h WHERE kind = 'choice' ORDER BY at DESC, seq DESC LIMIT 1)
"""
"""The same decision for an opt-in topic: no known minor, and the newest choice is a grant."""


def _baseline_decisions(url: str, processes: int, people: int, seconds: int) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_decide_loop, [(url, people, seconds, n) for n in range(processes)])
    return _merge(parts, seconds)


def _decide_loop(url: str, people: int, seconds: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    latencies = []
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            minor, latest = conn.execute(
                DECISION_SQL, {"s": ref(rng.randrange(people)), "t": TOPIC}
            ).fetchone() or (False, None)
            allowed = not minor and latest == "granted"
            json.dumps({"allowed": allowed})  # the answer is JSON too
            latencies.append(time.perf_counter() - t)
    return latencies


def _baseline_writes(url: str, processes: int, seconds: int) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_write_loop, [(url, seconds, n) for n in range(processes)])
    return _merge(parts, seconds)


def _write_loop(url: str, seconds: int, seed: int) -> list[float]:
    latencies = []
    with psycopg.connect(_libpq(url)) as conn:
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            t = time.perf_counter()
            n += 1
            conn.execute(
                "INSERT INTO consent_records (at, kind, subject_ref, topic, choice, notice_version,"
                " method, jurisdiction, evidence) VALUES (now(), 'choice', %s, %s, 'granted', '1',"
                " 'form', 'us-ca', '{}') RETURNING seq",
                (f"b-{seed}-{n}", TOPIC),
            ).fetchone()
            conn.commit()
            latencies.append(time.perf_counter() - t)
    return latencies


def _merge(parts: Sequence[Sequence[float]], seconds: int) -> dict[str, Any]:
    return _summary([x for part in parts for x in part], seconds)


# ---- (c) the bulk filter ---------------------------------------------------------------------

BULK_SQL = """
WITH h AS (
  SELECT r.ord, c.kind, c.choice, c.at, c.seq FROM bench_refs r
    JOIN consent_records c ON c.subject_ref = r.ref AND c.kind <> 'link'
     AND (c.kind = 'minor' OR c.topic = %(t)s)
  UNION ALL
  SELECT r.ord, c.kind, c.choice, c.at, c.seq FROM bench_refs r
    JOIN consent_records l ON l.kind = 'link' AND l.subject_ref = r.ref
    JOIN consent_records c ON c.consent_id = l.consent_id AND c.subject_ref IS NULL
     AND c.kind <> 'link' AND (c.kind = 'minor' OR c.topic = %(t)s)
), person AS (
  SELECT ord, bool_or(kind = 'minor') AS minor,
         (array_agg(choice ORDER BY at DESC, seq DESC) FILTER (WHERE kind = 'choice'))[1] AS latest
    FROM h GROUP BY ord
)
SELECT r.ref FROM bench_refs r JOIN person USING (ord)
 WHERE NOT person.minor AND person.latest = 'granted'
 ORDER BY r.ord
"""


def _bulk(url: str, config: Path, addresses: int, seed: int) -> dict[str, Any]:
    print(f"\n== bulk marketable filter of {addresses:,} references ==", flush=True)
    rng = random.Random(seed)
    # Most addresses are in the ledger; a quarter are people who never chose anything.
    refs = [
        ref(rng.randrange(addresses)) if rng.random() < 0.75 else f"new-{i}"
        for i in range(addresses)
    ]
    db = sa.make_url(url)
    ledger = ConsentLedger(connect(db), reader=autocommit_reader(db))
    engine = ConsentEngine(ledger, load(config).declaration)
    started = time.perf_counter()
    kept = sum(1 for _ in engine.marketable(refs))
    covenant = time.perf_counter() - started
    ledger.dispose()
    print(f"marketable: {covenant:.1f} s ({addresses / covenant:,.0f} references/s), kept {kept:,}")

    started = time.perf_counter()
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("CREATE TEMP TABLE bench_refs (ord integer PRIMARY KEY, ref text NOT NULL)")
        with conn.cursor().copy("COPY bench_refs (ord, ref) FROM STDIN") as copy:
            for i, r in enumerate(refs):
                copy.write_row((i, r))
        conn.execute("ANALYZE bench_refs")
        hand = sum(1 for _ in conn.execute(BULK_SQL, {"t": TOPIC}))
    baseline = time.perf_counter() - started
    if hand != kept:
        raise SystemExit(f"the filter kept {kept:,} references but the SQL keeps {hand:,}")
    print(
        f"hand-written COPY + one query: {baseline:.1f} s, kept {hand:,} "
        f"| ratio {covenant / baseline:.1f}x",
        flush=True,
    )
    return {"seconds": round(covenant, 2), "baseline_seconds": round(baseline, 2), "kept": kept}


if __name__ == "__main__":
    main()
