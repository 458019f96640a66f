"""Fulfilment jobs: the in-process runner, the procrastinate queue on a real PostgreSQL,
recovery after a worker dies, and the kill-a-worker test (a request still completes
exactly once)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import pytest
import sqlalchemy as sa
import typer
from click.testing import Result
from procrastinate.jobs import Status
from typer.testing import CliRunner

from covenant.errors import ConnectorError
from covenant.jobs import JobsMisconfigured, NotARequestId, check_request_id, queue_for
from covenant.jobs.cli import worker
from covenant.jobs.failure import backoff, describe
from covenant.jobs.inprocess import InProcessQueue
from covenant.jobs.queue import (
    QUEUE,
    ProcrastinateQueue,
    conninfo,
    deferrer,
    ensure_schema,
    make_app,
)
from covenant.jobs.recovery import ANY, LIVE, requeue_orphans, retry_stalled
from covenant.jobs.worker import work
from covenant.migrations import upgrade
from covenant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = [
    "",
    "x" * 1_000_000,
    "<script>alert(1)</script>",
    "ünïcødé-ïd-ŧħаŧ-ɨꞩ-ŧħɨɍŧɏ-ꞩɨӿ-ȼħȺɍꞩ",
    "'; DROP TABLE requests; --",
    "{12345678-1234-5678-1234-567812345678}",
    "12345678123456781234567812345678",
    "12345678-1234-5678-1234-56781234567\u0000",
]


def rid() -> str:
    return str(uuid.uuid4())


# -- pure pieces ---------------------------------------------------------------------------


def test_a_failure_is_described_without_its_message() -> None:
    leak = RuntimeError("duplicate key: Key (email)=(ana@example.com) already exists")
    assert describe(leak) == "RuntimeError"
    assert "ana@" not in describe(ConnectorError("shop: cannot connect: ana@example.com"))
    assert describe(ConnectorError("whatever")) == (
        "ConnectorError: A store database could not be reached or refused the work."
    )


def test_backoff_doubles_up_to_the_cap() -> None:
    waits = [backoff(n, first=1.0, cap=10.0) for n in range(6)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    with pytest.raises(ValueError, match="from 0"):
        backoff(-1, first=1.0, cap=10.0)


def test_request_ids_are_checked_before_anything_is_queued() -> None:
    good = rid()
    assert check_request_id(good) == good
    for bad in [*HOSTILE, good.upper()]:
        with pytest.raises(NotARequestId) as caught:
            check_request_id(bad)
        assert caught.value.status == 400
        assert bad[:40] not in caught.value.message or bad == ""


def test_conninfo_from_a_sqlalchemy_url() -> None:
    info = conninfo("postgresql+psycopg://ana:p%40ss@db.internal:5433/covenant?sslmode=require")
    assert dict(p.split("=", 1) for p in info.split()) == {
        "host": "db.internal",
        "port": "5433",
        "dbname": "covenant",
        "user": "ana",
        "password": "p@ss",
        "sslmode": "require",
    }
    unix = conninfo("postgresql://postgres@/covenant?host=/var/run/postgresql")
    assert "host=/var/run/postgresql" in unix


def test_conninfo_refuses_other_databases_without_repeating_the_password() -> None:
    with pytest.raises(JobsMisconfigured, match="needs PostgreSQL, not mysql") as caught:
        conninfo("mysql+pymysql://root:hunter22@127.0.0.1/covenant")
    assert "hunter22" not in caught.value.message
    with pytest.raises(JobsMisconfigured, match="not a valid database URL") as caught:
        conninfo("hunter22://::not a url")
    assert "hunter22" not in caught.value.message


def test_queue_for_picks_by_settings(tmp_path: Path) -> None:
    config = tmp_path / "covenant.yml"
    sqlite = Settings(config=config)
    assert isinstance(queue_for(sqlite, lambda _: None), InProcessQueue)
    with pytest.raises(JobsMisconfigured, match="needs Covenant's own database on PostgreSQL"):
        queue_for(Settings(config=config, jobs="procrastinate"), lambda _: None)
    pg = "postgresql://postgres@127.0.0.1:5432/covenant"
    auto = queue_for(Settings(config=config, database_url=pg), lambda _: None)
    assert isinstance(auto, ProcrastinateQueue)
    forced = queue_for(Settings(config=config, database_url=pg, jobs="inprocess"), lambda _: None)
    assert isinstance(forced, InProcessQueue)


# -- the in-process runner -----------------------------------------------------------------


class Recorder:
    """A fulfilment target: records each run, fails the first ``failures[id]`` runs of an id."""

    def __init__(self, failures: dict[str, int] | None = None) -> None:
        self.runs: list[str] = []
        self.failures = dict(failures or {})
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, request_id: str) -> None:
        self.gate.wait(10)
        with self.lock:
            self.runs.append(request_id)
            left = self.failures.get(request_id, 0)
            if left:
                self.failures[request_id] = left - 1
                raise ConnectorError("shop: cannot connect: ana@example.com is locked")


@pytest.fixture
def runner() -> Iterator[Callable[..., tuple[InProcessQueue, Recorder]]]:
    made: list[InProcessQueue] = []

    def make(
        failures: dict[str, int] | None = None,
        attempts: int = 3,
        pending: Callable[[], list[str]] | None = None,
    ) -> tuple[InProcessQueue, Recorder]:
        target = Recorder(failures)
        queue = InProcessQueue(
            target, pending=pending, attempts=attempts, first_wait=0.01, max_wait=0.05
        )
        made.append(queue)
        return queue, target

    yield make
    for queue in made:
        queue.stop(timeout=5)


def test_inprocess_runs_each_waiting_request_once(runner: Callable[..., tuple]) -> None:
    queue, target = runner()
    a, b = rid(), rid()
    for request_id in (a, b, a, a, b):
        queue.defer_fulfilment(request_id)
    queue.start()
    assert queue.idle(timeout=5)
    assert target.runs == [a, b]


def test_inprocess_runs_again_a_request_deferred_while_it_runs(
    runner: Callable[..., tuple],
) -> None:
    queue, target = runner()
    a = rid()
    target.gate.clear()
    queue.start()
    queue.defer_fulfilment(a)
    deadline = time.monotonic() + 5
    while not queue._busy and time.monotonic() < deadline:
        time.sleep(0.005)
    queue.defer_fulfilment(a)  # while the first run waits at the gate
    queue.defer_fulfilment(a)  # already waiting: not queued a third time
    target.gate.set()
    assert queue.idle(timeout=5)
    assert target.runs == [a, a]


def test_inprocess_retries_a_failed_run(
    runner: Callable[..., tuple], caplog: pytest.LogCaptureFixture
) -> None:
    queue, target = runner(attempts=3)
    flaky, fine = rid(), rid()
    target.failures[flaky] = 2
    caplog.set_level(logging.WARNING, logger="covenant.jobs.inprocess")
    queue.start()
    queue.defer_fulfilment(flaky)
    queue.defer_fulfilment(fine)
    assert queue.idle(timeout=5)
    assert target.runs.count(flaky) == 3
    assert target.runs.count(fine) == 1
    retries = [r for r in caplog.records if getattr(r, "action", "") == "fulfilment_retry"]
    assert len(retries) == 2
    assert "ana@example.com" not in caplog.text


def test_inprocess_gives_up_after_its_attempts(
    runner: Callable[..., tuple], caplog: pytest.LogCaptureFixture
) -> None:
    queue, target = runner(attempts=3)
    broken = rid()
    target.failures[broken] = 99
    caplog.set_level(logging.WARNING, logger="covenant.jobs.inprocess")
    queue.start()
    queue.defer_fulfilment(broken)
    assert queue.idle(timeout=5)
    assert target.runs == [broken] * 3
    gave_up = [r for r in caplog.records if getattr(r, "action", "") == "fulfilment_gave_up"]
    assert len(gave_up) == 1
    assert gave_up[0].levelno == logging.ERROR
    assert "ana@example.com" not in caplog.text


def test_inprocess_stop_waits_for_the_running_request_and_drops_the_rest(
    runner: Callable[..., tuple],
) -> None:
    first, second = rid(), rid()
    in_progress = {first, second}  # what the database would say
    queue, target = runner(pending=lambda: sorted(in_progress))
    target.gate.clear()
    queue.start()  # queues both from `pending`
    deadline = time.monotonic() + 5
    while not queue._busy and time.monotonic() < deadline:
        time.sleep(0.005)
    stopper = threading.Thread(target=queue.stop)
    stopper.start()
    time.sleep(0.05)
    assert stopper.is_alive()  # still waiting for the run at the gate
    target.gate.set()
    stopper.join(5)
    assert not stopper.is_alive()
    ran = target.runs[0]
    assert target.runs == [ran]
    in_progress.discard(ran)  # the run completed the request
    # A restart queues again what the database says is still pending.
    queue.start()
    assert queue.idle(timeout=5)
    assert target.runs == [ran, *in_progress]


def test_inprocess_refuses_hostile_ids_and_queues_nothing(runner: Callable[..., tuple]) -> None:
    queue, target = runner()
    queue.start()
    for bad in HOSTILE:
        with pytest.raises(NotARequestId):
            queue.defer_fulfilment(bad)
    assert queue.idle(timeout=1)
    assert target.runs == []


# -- the procrastinate queue on PostgreSQL -------------------------------------------------


@pytest.fixture
def pg_url(fresh_db: Callable[[str], str]) -> str:
    """A fresh PostgreSQL database. PostgreSQL runs wherever the tests run (as for the
    rest of the suite): without it these tests fail rather than skip, so CI cannot pass
    without having run the queue."""
    return fresh_db("postgresql")


@pytest.fixture
def queue_db(pg_url: str) -> str:
    """The conninfo of a fresh database with procrastinate's schema."""
    info = conninfo(pg_url)
    assert ensure_schema(info) is True
    return info


def jobs_in(info: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(info) as conn:
        rows = conn.execute(
            "SELECT queueing_lock, status::text, attempts FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def test_ensure_schema_applies_once(queue_db: str) -> None:
    assert ensure_schema(queue_db) is False
    assert jobs_in(queue_db) == []


def test_ensure_schema_error_says_what_failed_without_the_password() -> None:
    bad = "host=127.0.0.1 port=1 dbname=x user=ana password=hunter22 connect_timeout=2"
    with pytest.raises(JobsMisconfigured, match="job queue's tables") as caught:
        ensure_schema(bad)
    assert "hunter22" not in caught.value.message


def test_deferring_twice_makes_one_job(queue_db: str) -> None:
    queue = ProcrastinateQueue(make_app(queue_db))
    queue.start()
    try:
        a, b = rid(), rid()
        queue.defer_fulfilment(a)
        queue.defer_fulfilment(a)  # already waiting: no second job, no error
        queue.defer_fulfilment(b)
        for bad in HOSTILE:
            with pytest.raises(NotARequestId):
                queue.defer_fulfilment(bad)
    finally:
        queue.stop()
    assert jobs_in(queue_db) == [(a, "todo", 0), (b, "todo", 0)]


def test_a_worker_runs_the_jobs_and_keeps_failures_quiet(
    queue_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    ok, broken = rid(), rid()
    target = Recorder({broken: 1})
    queue = ProcrastinateQueue(make_app(queue_db))
    queue.start()
    queue.defer_fulfilment(ok)
    queue.defer_fulfilment(broken)
    queue.stop()
    caplog.set_level(logging.INFO)
    asyncio.run(work(make_app(queue_db), fulfil=target, pending=list, stalled_after=3, wait=False))
    assert sorted(target.runs) == sorted([ok, broken])
    # The success is deleted; the failure waits for its retry, 2 s later.
    assert jobs_in(queue_db) == [(broken, "todo", 1)]
    assert "ana@example.com" not in caplog.text
    assert f"fulfilling {broken} failed: ConnectorError" in caplog.text


def test_a_stalled_job_goes_back_to_the_queue(queue_db: str) -> None:
    """A worker that stopped beating (killed) loses its job to the recovery sweep."""
    request_id = rid()
    app = make_app(queue_db)

    async def scenario() -> list[int]:
        async with app.open_async():
            job_id = await _deferred(app, request_id)
            dead = await app.job_manager.register_worker()
            fetched = await app.job_manager.fetch_job(queues=[QUEUE], worker_id=dead)
            assert fetched is not None
            assert fetched.id == job_id
            assert await retry_stalled(app, stalled_after=60) == []  # still beating
            await app.connector.execute_query_async(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
            )
            return await retry_stalled(app, stalled_after=60)

    assert asyncio.run(scenario()) != []
    assert jobs_in(queue_db) == [(request_id, "todo", 1)]
    target = Recorder()
    asyncio.run(work(app, fulfil=target, pending=list, stalled_after=3, wait=False))
    assert target.runs == [request_id]


def test_requests_without_a_job_are_queued(queue_db: str) -> None:
    queued, orphan, failed = rid(), rid(), rid()
    app = make_app(queue_db)

    async def scenario() -> tuple[list[str], list[str]]:
        async with app.open_async():
            await _deferred(app, queued)
            failed_job = await _deferred(app, failed)
            await app.job_manager.finish_job_by_id_async(
                job_id=failed_job, status=Status.FAILED, delete_job=False
            )
            # A sweep between starts leaves a failed request alone; a start retries it.
            sweep = await requeue_orphans(app, [queued, orphan, failed], counted=ANY)
            start = await requeue_orphans(app, [queued, orphan, failed], counted=LIVE)
            return sweep, start

    sweep, start = asyncio.run(scenario())
    assert sweep == [orphan]
    assert start == [failed]
    assert sorted(jobs_in(queue_db)) == sorted(
        [(queued, "todo", 0), (failed, "failed", 0), (orphan, "todo", 0), (failed, "todo", 0)]
    )


async def _deferred(app: procrastinate.App, request_id: str) -> int:
    return await deferrer(app, request_id).defer_async(request_id=request_id)


def test_a_worker_needs_the_schema(pg_url: str) -> None:
    with pytest.raises(JobsMisconfigured, match="run covenant db upgrade first"):
        asyncio.run(work(make_app(conninfo(pg_url)), fulfil=Recorder(), pending=list, wait=False))


def _worker_cli(args: list[str], env: dict[str, str | None]) -> Result:
    cli = typer.Typer()
    cli.command()(worker)
    return CliRunner().invoke(cli, args, env=env)


def test_the_worker_command_refuses_sqlite(tmp_path: Path) -> None:
    config = str(tmp_path / "covenant.yml")
    result = _worker_cli(["--config", config], {"COVENANT_DATABASE_URL": None})
    assert result.exit_code == 2
    assert "in-process runner in covenant serve handles jobs on SQLite" in result.output
    mysql = {"COVENANT_DATABASE_URL": "mysql+pymysql://root:hunter22@127.0.0.1/covenant"}
    result = _worker_cli(["--config", config], mysql)
    assert result.exit_code == 2
    assert "hunter22" not in result.output
    hostile = {"COVENANT_DATABASE_URL": None, "COVENANT_CONFIG": config}
    result = _worker_cli(["--concurrency", "0"], hostile)
    assert result.exit_code == 2  # typer's own usage error: 0 is below the minimum


# -- killing a worker in the middle of an erasure ------------------------------------------

SECRET = "kill-test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
HASH_KEY = "kill-test-hash-key-0123456789abcdef"


@pytest.fixture
def shop(tmp_path: Path, fresh_db: Callable[[str], str]) -> dict[str, Any]:
    """A 50-customer demo store and Covenant's own database, each on a fresh PostgreSQL."""
    store_url, own_url = fresh_db("postgresql"), fresh_db("postgresql")
    made = subprocess.run(
        [sys.executable, "-m", "covenant.demo", "create", str(tmp_path / "shop"),
         "--customers", "50", "--database-url", store_url, "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    demo = json.loads(made.stdout)
    env = {
        **os.environ,
        "COVENANT_CONFIG": demo["declaration"],
        "COVENANT_DATABASE_URL": own_url,
        "COVENANT_SECRET_KEY": SECRET,
        "COVENANT_HASH_KEY": HASH_KEY,
    }
    if demo["url_env"]:
        env[demo["url_env"]] = store_url
    upgrade(sa.make_url(own_url))
    assert ensure_schema(conninfo(own_url)) is True
    return {"demo": demo, "env": env, "store": conninfo(store_url), "own": own_url}


def _worker(env: dict[str, str], config: str, log: Path) -> subprocess.Popen[bytes]:
    """``covenant worker`` as its own process, its log in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "covenant.jobs", "--config", config,
             "--concurrency", "1", "--stalled-after", "1.5"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _waits_on_lock(store: str) -> bool:
    """Whether some session in the store's database is blocked on a lock (the erasure)."""
    with psycopg.connect(store) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.slow
def test_killing_a_worker_mid_erasure_completes_the_request_once(
    shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from covenant.audit import AuditLog
    from covenant.desk.build import desk_from_settings
    from covenant.desk.intake import parse
    from covenant.requests.lifecycle import State

    env, store, demo = shop["env"], shop["store"], shop["demo"]
    own = conninfo(shop["own"])
    for name in ("COVENANT_HASH_KEY", demo["url_env"]):
        if name:
            monkeypatch.setenv(name, env[name])
    person = demo["identities"]["customers"][1]
    settings = Settings(
        config=Path(demo["declaration"]), database_url=shop["own"], secret_key=SECRET
    )
    queue = ProcrastinateQueue(make_app(own))
    queue.start()
    desk = desk_from_settings(settings, queue=queue, environ={})
    workers: list[subprocess.Popen[bytes]] = []
    log = Path(demo["directory"]) / "workers.log"
    holder = psycopg.connect(store)
    try:
        request = desk.submit(parse({"kind": "delete", "email": person["email"]}))
        # A row of this person's that the erasure rewrites, locked as if by the store's app.
        holder.execute("SELECT * FROM customers WHERE id = %s FOR UPDATE", (person["customer_id"],))
        desk.verify_by_staff(request.id, actor="staff:1")
        desk.approve(request.id, actor="staff:1")  # erasures wait for staff in the demo
        assert desk.store.get(request.id).state is State.IN_PROGRESS

        workers.append(_worker(env, demo["declaration"], log))
        _until(lambda: _waits_on_lock(store), "the erasure blocks on the locked row")
        assert [s for _, s, _ in jobs_in(own)] == ["doing"]
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        holder.rollback()  # the store's app lets go; the dead worker's transaction rolls back

        workers.append(_worker(env, demo["declaration"], log))
        # The job is deleted when it succeeds: the whole of Desk.fulfil has run.
        _until(lambda: jobs_in(own) == [], "the second worker fulfils it")
        assert desk.result(request.id) is not None
        # The store's recipients must be told to delete too (CCPA §1798.105(c)): staff
        # record that, and the request completes.
        for task in desk.tasks(request.id):
            desk.complete_task(task.id, actor="staff:1", evidence="Recipient confirmed deletion")
        assert desk.store.get(request.id).state is State.COMPLETED

        # Graceful stop: SIGTERM ends the live worker cleanly.
        workers[1].send_signal(signal.SIGTERM)
        assert workers[1].wait(15) == 0
    finally:
        print(log.read_text() if log.exists() else "no worker log")  # shown on failure
        holder.close()
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        queue.stop()

    try:
        audit: AuditLog = desk.store.audit
        actions = [e.action for e in audit.entries(subject_ref=request.id)]
        assert actions.count("request.completed") == 1
        assert audit.verify().ok
    finally:
        desk.close()
    with psycopg.connect(store) as conn:
        left = conn.execute(
            "SELECT email, phone, first_name FROM customers WHERE id = %s",
            (person["customer_id"],),
        ).fetchall()
        by_email = conn.execute(
            "SELECT count(*) FROM customers WHERE email = %s", (person["email"],)
        ).fetchone()
    assert left == [(None, None, None)]  # the account row stays for the tax records, emptied
    assert by_email == (0,)
    # The second worker took the dead one's job through the recovery sweep, once.
    assert log.read_text().count("of a stalled worker goes back to the queue") == 1
