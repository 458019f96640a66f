"""Shared fixtures: a fresh, empty database per test on each real backend.

PostgreSQL and MariaDB run on every machine that runs these tests (CI too), so
tests use them for real; SQLite uses a temporary file. Each test gets its own
database, created and dropped around it, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_ADMIN = os.environ.get(
    "COVENANT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MY_ADMIN = os.environ.get("COVENANT_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
BACKENDS = ["sqlite", "postgresql", "mariadb"]


def _fresh(backend: str, tmp_path: object) -> Iterator[str]:
    name = f"covenant_t_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/{name}.db"
        return
    admin_url = PG_ADMIN if backend == "postgresql" else MY_ADMIN
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A URL to a new, empty database on each backend in turn."""
    yield from _fresh(request.param, tmp_path)


@pytest.fixture
def fresh_db(tmp_path: object) -> object:
    """A factory for extra databases: ``fresh_db('postgresql')``."""
    made: list[Iterator[str]] = []

    def make(backend: str) -> str:
        gen = _fresh(backend, tmp_path)
        made.append(gen)
        return next(gen)

    yield make
    for gen in made:
        next(gen, None)


@pytest.fixture(autouse=True)
def _service_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service refuses to start without COVENANT_SECRET_KEY; tests run with a fixed one."""
    monkeypatch.setenv("COVENANT_SECRET_KEY", "test-secret-" + "x" * 40)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Commands run in-process (``covenant demo create`` sets COVENANT_HASH_KEY for its own run)
    must not leave settings behind for the next test in the same worker."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
