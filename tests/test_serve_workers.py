"""``covenant serve --workers N``: refused where workers cannot share state, served on PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from covenant.cli import app
from covenant.db import connect
from covenant.migrations import upgrade

AUDIO = Path(__file__).parent.parent / "examples" / "audio-store" / "covenant.yml"


def _copy(tmp_path: Path) -> Path:
    """The audio store in a scratch folder: a service writes beside its declaration."""
    target = tmp_path / "audio-store"
    shutil.copytree(AUDIO.parent, target)
    return target / "covenant.yml"


API_KEY = "workers-api-key-0123456789abcdef"
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_several_workers_on_embedded_sqlite_are_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _copy(tmp_path)
    monkeypatch.delenv("COVENANT_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["serve", "--config", str(config), "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "needs PostgreSQL" in result.stderr
    assert not (config.parent / "covenant-state.db").exists()  # nothing was created


def test_several_workers_need_one_shared_secret_key(
    fresh_db: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVENANT_DATABASE_URL", fresh_db("postgresql"))
    monkeypatch.delenv("COVENANT_SECRET_KEY")
    result = runner.invoke(app, ["serve", "--config", str(AUDIO), "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "COVENANT_SECRET_KEY" in result.stderr


def test_out_of_range_worker_counts_are_refused() -> None:
    for count in ("0", "65", "two"):
        result = runner.invoke(app, ["serve", "--config", str(AUDIO), "--workers", count])
        assert result.exit_code == 2, result.output


def test_two_workers_on_postgresql_answer_decisions(
    fresh_db: Callable[[str], str], tmp_path: Path
) -> None:
    config = _copy(tmp_path)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")},
        "COVENANT_DATABASE_URL": fresh_db("postgresql"),
        "COVENANT_SECRET_KEY": "workers-secret-" + "w" * 40,
        "COVENANT_API_KEY": API_KEY,
        "COVENANT_DEVELOPMENT": "1",
    }
    entry = "import sys; from covenant.cli import main; sys.argv[0] = 'covenant'; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", entry, "serve", "--config", str(config), "--port", str(port),
         "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {API_KEY}"}
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                proc.wait()
                reader.join(timeout=10)
                raise AssertionError("covenant serve exited early:\n" + "".join(lines))
            started = sum("Started server process" in line for line in lines)  # uvicorn's
            try:
                if started == 2 and httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the workers never answered"
            time.sleep(0.2)
        choice = {
            "subject": "s-workers",
            "choices": [{"purpose": "marketing", "choice": "granted"}],
            "notice_version": "1",
            "method": "form",
            "jurisdiction": "us-ca",
        }
        written = httpx.post(f"{base}/api/v1/consent", json=choice, headers=auth, timeout=30)
        assert written.status_code == 201, written.text
        # Whichever worker answers, it reads what the other may have written.
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            for _ in range(20):
                answer = client.get(
                    "/api/v1/consent/decision",
                    params={"subject": "s-workers", "purpose": "marketing"},
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["allowed"] is True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    output = "".join(lines)
    assert "Serving on" in output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_processes_starting_together_migrate_once(
    fresh_db: Callable[[str], str], backend: str
) -> None:
    """Workers start at the same moment and each brings the database to the latest
    revision: one migrates, the others wait for it and find nothing to do."""
    url = sa.make_url(fresh_db(backend))
    # Processes, as in production (Alembic's context is process-global, not for threads).
    with mp.get_context("spawn").Pool(4) as pool:
        pool.map(upgrade, [url] * 4)
    engine = connect(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1
