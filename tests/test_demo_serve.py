"""``covenant demo``: one command creates the store and serves everything, as a new user runs it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_covenant_demo_creates_the_store_and_serves_it(tmp_path: Path) -> None:
    port = _free_port()
    folder = tmp_path / "demo"
    # As a new user runs it: no Covenant settings in the environment (another test in this
    # worker may have left one, e.g. COVENANT_HASH_KEY set in-process by `covenant demo create`).
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")}
    entry = "import sys; from covenant.cli import main; sys.argv[0] = 'covenant'; main()"
    command = [sys.executable, "-c", entry, "demo", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--customers", "20", "--directory", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # Generous: building the store and starting shares the cores with other test workers.
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"covenant demo exited early:\n{proc.communicate()[0]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the demo never answered")
            time.sleep(0.2)
        assert httpx.get(f"{base}/privacy", timeout=30).status_code == 200
        assert (
            httpx.get(f"{base}/outbox", timeout=30).status_code == 200
        )  # the demo turns the outbox on
        login = httpx.get(f"{base}/admin/login", timeout=30)
        assert login.status_code == 200
        # Keys live beside the store, readable by their owner only.
        for name in ("covenant-secret.key", "covenant-hash.key"):
            assert (folder / name).stat().st_mode & 0o077 == 0
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"{base}/privacy" in out
    password = re.search(r"user demo-admin, password (\S+)", out)
    assert password is not None
    assert len(password.group(1)) >= 12
    # Customers to try, with the details that verify them.
    assert re.search(r"^\s+\S+@example\.\w+\s+\(.*card_last4 \d{4}.*\)$", out, re.M), out
