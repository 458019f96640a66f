"""Benchmark: Covenant's engine against hand-written SQL, in the same run.

    python bench/bench_engine.py --customers 100000 --backend sqlite --backend postgresql

Builds the demo store at the chosen scale (reused when it already exists at
that scale; ``--rebuild`` forces it), then times, per backend:

- one-subject access: the traversal alone (rows fetched, as the hand-written
  SQL does) and the full request writing the zip package;
- one-subject erasure, with Covenant's proof re-read included;
- a batch of erasures (default 1,000);
- peak memory of exporting one subject with 1,000,000 page views.

Each figure is printed with the ratio to the hand-written SQL doing the same
work on other subjects of the same store. Figures are medians unless stated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

import handwritten  # bench/ is on sys.path when this file runs as a script
from covenant.declaration import load
from covenant.demo.store import create
from covenant.engine.access import access, exported_columns
from covenant.engine.erase import erase
from covenant.engine.identity import normalize
from covenant.engine.plan import plan
from covenant.engine.session import Session
from covenant.engine.walk import walk

HASH_KEY = "bench-hash-key-0123456789abcdef"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OUT = Path(__file__).parent / "out"


def main() -> None:
    args = _args()
    os.environ["COVENANT_HASH_KEY"] = HASH_KEY
    results = {}
    for backend in args.backend:
        print(f"\n== {backend}, {args.customers:,} customers ==", flush=True)
        config, url = _store(backend, args.customers, args.rebuild)
        results[backend] = run(config, url, args)
    print("\n" + json.dumps(results, indent=2))


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    p.add_argument("--subjects", type=int, default=30, help="subjects timed per measure")
    p.add_argument("--batch", type=int, default=1000, help="erasures in the batch")
    p.add_argument("--page-views", type=int, default=1_000_000, help="for the memory measure")
    p.add_argument("--rebuild", action="store_true")
    ns = p.parse_args()
    ns.backend = ns.backend or ["sqlite", "postgresql"]
    return ns


def _store(backend: str, customers: int, rebuild: bool) -> tuple[Path, str]:
    folder = OUT / f"{backend}-{customers}"
    marker = folder / "built.json"
    url = None
    if backend == "postgresql":
        name = f"covenant_bench_{customers}"
        url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        if rebuild or not marker.exists():
            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                conn.execute(sa.text(f"CREATE DATABASE {name}"))
            admin.dispose()
    if rebuild or not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        store = create(folder, customers=customers, seed=1, database_url=url, progress=True)
        print(f"built: {store.total_rows:,} rows in {store.seconds:.1f} s", flush=True)
        marker.write_text(json.dumps({"rows": store.total_rows, "seconds": store.seconds}))
    else:
        print(f"reusing {folder} ({json.loads(marker.read_text())['rows']:,} rows)")
    loaded = load(folder / "covenant.yml")
    system = loaded.declaration.systems[0]
    from covenant.connectors.sql import resolve_url

    assert system.connection is not None
    real = resolve_url(system.connection.url, loaded.base_dir).render_as_string(hide_password=False)
    return folder / "covenant.yml", real


def _subjects(engine: sa.Engine, n: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """Random customers not yet erased by an earlier run, never the same one twice."""
    with engine.connect() as conn:
        top = int(conn.execute(sa.text("SELECT max(id) FROM customers")).scalar_one())
        seen: set[int] = set()
        while len(seen) < n:
            ids = [i for i in rng.sample(range(1, top + 1), min(top, 4 * n)) if i not in seen]
            rows = conn.execute(
                sa.select(sa.column("id"), sa.column("email"), sa.column("phone"))
                .select_from(sa.table("customers"))
                .where(sa.column("id").in_(ids), sa.column("email").is_not(None))
            ).all()
            for r in rows:
                if len(seen) < n and r.id not in seen:
                    seen.add(r.id)
                    yield r.email, r.phone


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def run(config: Path, url: str, args: argparse.Namespace) -> dict[str, object]:
    loaded = load(config)
    engine = sa.create_engine(url)
    rng = random.Random(f"{config}-{time.time_ns()}")
    session = Session(loaded)
    now = session.now
    key = HASH_KEY.encode()
    k = args.subjects

    def ids(email: str, phone: str) -> dict[str, tuple[str, ...]]:
        return normalize(
            [("email", email), ("phone", phone)], loaded.catalog, loaded.declaration.identities
        )

    def traverse(email: str, phone: str) -> int:
        p = plan(loaded.catalog, ["email", "phone"])
        total = 0

        def sink(
            step: object, columns: object, batches: Iterator[list[tuple[object, ...]]]
        ) -> None:
            nonlocal total
            for b in batches:
                total += len(b)

        walk(
            session,
            p,
            ids(email, phone),
            columns=lambda s: exported_columns(loaded, s.collection)[0],
            sink=sink,
        )
        return total

    subjects = list(_subjects(engine, 4 * k + args.batch, rng))
    warm = subjects.pop()
    traverse(*warm)
    with engine.connect() as conn:
        handwritten.access(conn, *warm)

    out: dict[str, object] = {}
    group = subjects[:k]
    cov_walk = [_timed(lambda s=s: traverse(*s)) for s in group]
    with engine.connect() as conn:
        hand_access = [_timed(lambda s=s: handwritten.access(conn, *s)) for s in group]
    with tempfile.TemporaryDirectory() as tmp:
        full = [_timed(lambda s=s: access(session, ids(*s), Path(tmp) / "a.zip")) for s in group]
    _report(out, "access (traversal)", cov_walk, hand_access)
    _report(out, "access (with zip package)", full, hand_access)

    cov_erase = [_timed(lambda s=s: erase(session, ids(*s))) for s in subjects[k : 2 * k]]
    hand_erase = [
        _timed(lambda s=s: handwritten.erase(engine, s[0], s[1], now, key))
        for s in subjects[2 * k : 3 * k]
    ]
    _report(out, "erasure (with proof)", cov_erase, hand_erase)

    batch = subjects[3 * k : 3 * k + args.batch]
    half = len(batch) // 2
    start = time.perf_counter()
    for s in batch[:half]:
        erase(session, ids(*s))
    cov_batch = (time.perf_counter() - start) * (len(batch) / max(half, 1))
    start = time.perf_counter()
    for s in batch[half:]:
        handwritten.erase(engine, s[0], s[1], now, key)
    hand_batch = (time.perf_counter() - start) * (len(batch) / max(len(batch) - half, 1))
    print(
        f"batch of {len(batch)} erasures: covenant {cov_batch:.1f} s (measured on {half}, scaled), "
        f"hand-written {hand_batch:.1f} s, ratio {cov_batch / hand_batch:.2f}x",
        flush=True,
    )
    out["batch_erasures"] = {"n": len(batch), "covenant_s": cov_batch, "handwritten_s": hand_batch}
    session.close()
    out["memory"] = _memory(config, engine, subjects[-1], args.page_views)
    engine.dispose()
    return out


def _report(out: dict[str, object], name: str, cov: list[float], hand: list[float]) -> None:
    c, h = statistics.median(cov), statistics.median(hand)
    p95 = sorted(cov)[max(0, int(len(cov) * 0.95) - 1)]
    print(
        f"{name}: covenant median {c:.1f} ms (p95 {p95:.1f}), hand-written {h:.1f} ms, ratio {c / h:.2f}x",
        flush=True,
    )
    out[name] = {"covenant_ms": c, "covenant_p95_ms": p95, "handwritten_ms": h, "ratio": c / h}


def _memory(
    config: Path, engine: sa.Engine, subject: tuple[str, str], page_views: int
) -> dict[str, float]:
    """Give one subject ``page_views`` page views, then export them in a fresh process."""
    email = subject[0]
    with engine.begin() as conn:
        cid = conn.execute(
            sa.text("SELECT id FROM customers WHERE email = :e"), {"e": email}
        ).scalar_one()
        sid = conn.execute(sa.text("SELECT max(id) + 1 FROM web_sessions")).scalar_one()
        pv = conn.execute(sa.text("SELECT max(id) FROM page_views")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO web_sessions (id, cookie_id, customer_id, ip_address, user_agent, started_at) "
                "VALUES (:sid, 'bench-cookie', :cid, '192.0.2.1', 'bench', :now)"
            ),
            {"sid": sid, "cid": cid, "now": dt.datetime.now(dt.UTC).replace(tzinfo=None)},
        )
        series = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "SELECT i FROM n"
            if engine.dialect.name == "sqlite"
            else "SELECT generate_series(1, :count) AS i"
        )
        conn.execute(
            sa.text(
                "INSERT INTO page_views (id, session_id, started_at, url, viewed_at, duration_ms) "
                f"SELECT :pv + s.i, :sid, :now, '/products/speaker-' || s.i, :now, 1000 FROM ({series}) s"
            ),
            {
                "pv": pv,
                "sid": sid,
                "count": page_views,
                "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            },
        )
    code = (
        "import resource, sys, time\n"
        "from pathlib import Path\n"
        "from covenant.declaration import load\n"
        "from covenant.engine.access import access\n"
        "from covenant.engine.identity import normalize\n"
        "from covenant.engine.session import Session\n"
        "l = load(sys.argv[1])\n"
        "ids = normalize([('email', sys.argv[2])], l.catalog, l.declaration.identities)\n"
        "t = time.perf_counter()\n"
        "with Session(l) as s: r = access(s, ids, Path(sys.argv[3]))\n"
        "print(r.total_rows, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", code, str(config), email, str(Path(tmp) / "big.zip")],
            capture_output=True,
            text=True,
            check=True,
        )
    rows, seconds, rss = done.stdout.split()
    print(
        f"export of {int(rows):,} rows (1 subject, {page_views:,} page views): {float(seconds):.1f} s, "
        f"peak RSS {float(rss):.0f} MB",
        flush=True,
    )
    return {"rows": int(rows), "seconds": float(seconds), "peak_rss_mb": float(rss)}


if __name__ == "__main__":
    main()
