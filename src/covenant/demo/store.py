"""Creating the demo store: its database filled with fictional people, and its declaration.

Owns the one entry point, :func:`create`, and what it reports back: where the
files are, how many rows each table got, and identities worth trying requests
with. Database failures surface as :class:`~covenant.errors.ConnectorError` with
a message that names the database (never its password) and says what went wrong.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, create_engine, exc
from sqlalchemy.engine import URL, make_url

from covenant.demo import declaration
from covenant.demo.generate import ROWS_PER_CUSTOMER, Samples, StoreData
from covenant.demo.load import ForeignTable, Reporter, load
from covenant.errors import ConnectorError, CovenantError

SQLITE_FILE = "store.db"
"""The embedded store's file, inside the demo folder."""

DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
"""Each supported backend, and the installed driver used for it."""


@dataclass(frozen=True)
class DemoStore:
    """A created demo store."""

    directory: Path
    declaration: Path
    dataset: Path
    database_url: str
    """With any password hidden."""
    url_env: str | None
    """When set, the declaration reads the URL from this environment variable."""
    customers: int
    seed: int
    rows: dict[str, int]
    seconds: float
    samples: Samples

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: paths and sample identities as plain values."""
        s = self.samples
        return {
            "directory": str(self.directory),
            "declaration": str(self.declaration),
            "dataset": str(self.dataset),
            "database_url": self.database_url,
            "url_env": self.url_env,
            "customers": self.customers,
            "seed": self.seed,
            "rows": dict(sorted(self.rows.items())),
            "total_rows": self.total_rows,
            "seconds": round(self.seconds, 2),
            "identities": {
                "customers": [asdict(c) for c in s.customers],
                "tax_hold_customer": asdict(s.tax_hold_customer),
                "anonymous_visitor": {"cookie_id": s.anonymous_cookie_id},
                "contest_entrant": {"email": s.contest_only_email},
                "caller": {"phone": s.call_only_phone},
            },
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def create(
    directory: Path,
    *,
    customers: int,
    seed: int,
    database_url: str | None = None,
    progress: bool = False,
) -> DemoStore:
    """Build the demo store in ``directory`` (SQLite there unless ``database_url`` is given).

    Same ``seed`` and ``customers`` give the same rows. Existing demo tables are
    dropped first; nothing else in the database is touched.
    """
    if customers < 1:
        raise CovenantError("a demo store needs at least one customer")
    started = time.perf_counter()
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    url, relative = target(directory, database_url)
    data = StoreData(customers, seed)
    engine = _engine(url)
    try:
        with _reporter(progress, customers * ROWS_PER_CUSTOMER) as report:
            rows = _fill(engine, url, data, report)
    finally:
        engine.dispose()
    written = declaration.write(directory, url, relative_sqlite=relative)
    return DemoStore(
        directory=directory,
        declaration=written.declaration,
        dataset=written.dataset,
        database_url=url.render_as_string(hide_password=True),
        url_env=written.url_env,
        customers=customers,
        seed=seed,
        rows=rows,
        seconds=time.perf_counter() - started,
        samples=data.samples(),
    )


def target(directory: Path, database_url: str | None) -> tuple[URL, str | None]:
    """The URL to load into, with a known driver, and the relative SQLite file if default."""
    if database_url is None:
        path = directory / SQLITE_FILE
        path.unlink(missing_ok=True)  # the demo's own file: start clean
        return URL.create("sqlite", database=str(path)), SQLITE_FILE
    try:
        url = make_url(database_url)
    except exc.ArgumentError:
        raise ConnectorError(f"not a database URL: {database_url!r}") from None
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        known = ", ".join(sorted({"sqlite", "postgresql", "mysql", "mariadb"}))
        raise ConnectorError(f"the demo store runs on {known}, not {backend}")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConnectorError("give the demo store a SQLite file, not an in-memory database")
        # Relative paths mean the current folder here, but the declaration's folder
        # once written; an absolute path means the same file to both.
        return url.set(drivername="sqlite", database=str(Path(url.database).resolve())), None
    return url.set(drivername=DRIVERS[backend]), None


def _engine(url: URL) -> Engine:
    try:
        return create_engine(url)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise ConnectorError(f"cannot use {_safe(url)}: {error}") from None


def _fill(engine: Engine, url: URL, data: StoreData, report: Reporter) -> dict[str, int]:
    try:
        conn = engine.connect()
    except exc.DBAPIError as error:
        reason = _reason(error)
        raise ConnectorError(f"cannot reach the database at {_safe(url)}: {reason}") from None
    # The bulk paths talk to the driver directly, so its own errors arrive unwrapped.
    driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
    with conn:
        try:
            return load(conn, data.chunks(), report)
        except ForeignTable as error:
            raise ConnectorError(f"{_safe(url)}: {error}") from None
        except (exc.DBAPIError, driver_error) as error:
            raise ConnectorError(
                f"the database at {_safe(url)} refused the demo store: {_reason(error)}"
            ) from None


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _reason(error: Exception) -> str:
    """The driver's own message, first line only (psycopg adds hints on later lines)."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


class _Silent:
    def rows(self, count: int) -> None:
        pass

    def phase(self, name: str) -> None:
        pass


class _Bar:
    """A Rich progress bar over rows written, then the name of each closing step."""

    def __init__(self, progress: Progress, estimate: int) -> None:
        self.progress = progress
        self.task = progress.add_task("Loading rows", total=estimate)

    def rows(self, count: int) -> None:
        self.progress.advance(self.task, count)

    def phase(self, name: str) -> None:
        done = self.progress.tasks[0].completed
        self.progress.update(self.task, total=done, description=name.capitalize())


@contextmanager
def _reporter(enabled: bool, estimate: int) -> Iterator[Reporter]:
    """Progress on stderr, so ``--json`` output on stdout stays clean."""
    if not enabled:
        yield _Silent()
        return
    columns = (TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("rows"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        bar = _Bar(progress, estimate)
        yield bar
        bar.phase("done")
