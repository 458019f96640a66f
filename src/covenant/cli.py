"""The ``covenant`` command line.

Every command prints a readable summary, or JSON with ``--json``, and turns a
:class:`CovenantError` into its message and exit code: never a stack trace.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from covenant.clitools import ConfigOpt, JsonOpt, err, guarded, out, state_engine
from covenant.declaration import load
from covenant.engine.identity import Identities, normalize, parse_pairs
from covenant.engine.session import Session
from covenant.notice.cli import register as register_notice

app = typer.Typer(
    name="covenant",
    help="Keep every promise your privacy statement makes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dsr = typer.Typer(
    help="Run a data subject request: access, erase or correct.", no_args_is_help=True
)
app.add_typer(dsr, name="dsr")
register_notice(app)

T = TypeVar("T")

IdentityOpt = Annotated[
    list[str],
    typer.Option("--identity", "-i", help="type=value, e.g. email=ana@example.com. Repeatable."),
]


def _run_request(
    config: Path, identity: list[str], fn: Callable[[Session, Identities], dict[str, Any]]
) -> dict[str, Any]:
    """Load the declaration, check the identities, and run one request in a session."""

    def run() -> dict[str, Any]:
        loaded = load(config)
        ids = normalize(parse_pairs(identity), loaded.catalog, loaded.declaration.identities)
        with Session(loaded) as session:
            return fn(session, ids)

    return guarded(run)


@contextmanager
def _row_progress(*, enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A live count of rows exported, for people watching a large export on a terminal."""
    if not (enabled and err.is_terminal):
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("exporting", total=None)

        def advance(collection: str, n: int) -> None:
            progress.update(task, advance=n, description=f"exporting {collection}")

        yield advance


@app.command()
def check(config: ConfigOpt, as_json: JsonOpt = False) -> None:
    """Validate the declaration; exit non-zero listing every problem."""
    from covenant.errors import DeclarationError

    try:
        loaded = load(config)
    except DeclarationError as exc:
        if as_json:
            print(
                json.dumps({"ok": False, "problems": [asdict(p) for p in exc.problems]}, indent=2)
            )
        else:
            err.print(exc.message, markup=False, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    from covenant.rules import evaluate

    violations = evaluate(loaded)
    if violations:
        if as_json:
            found = [asdict(v) for v in violations]
            print(json.dumps({"ok": False, "problems": [], "violations": found}, indent=2))
        else:
            for v in violations:
                err.print(str(v), markup=False, highlight=False)
            err.print(f"{len(violations)} rule violation(s)", highlight=False)
        raise typer.Exit(1)
    cat = loaded.catalog
    fields = sum(len(c.fields) for c in cat.collections.values())
    if as_json:
        print(json.dumps({"ok": True, "collections": len(cat.collections), "fields": fields}))
    else:
        out.print(
            f"[green]ok[/]: {len(cat.collections)} collections, {fields} fields, "
            "no problems, every rule holds"
        )


@dsr.command("access")
def dsr_access(
    config: ConfigOpt,
    identity: IdentityOpt,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the package (.zip).")
    ] = Path("access.zip"),
    as_json: JsonOpt = False,
) -> None:
    """Find one person's data and write it as a portable package (JSON, CSV, HTML)."""
    from covenant.engine.access import access

    with _row_progress(enabled=not as_json) as on_rows:
        result = _run_request(
            config, identity, lambda s, ids: access(s, ids, out_path, on_rows=on_rows).to_dict()
        )
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    print_access(result)


def print_access(result: dict[str, Any]) -> None:
    """The access result as a table, for people."""
    table = Table("collection", "rows", "withheld columns", title="Access request")
    for c in result["collections"]:
        table.add_row(c["collection"], str(c["rows"]), ", ".join(c["excluded"]))
    out.print(table)
    digest = result["sha256"][:16]
    out.print(
        f"{result['total_rows']} rows written to [bold]{result['package']}[/] (sha256 {digest}…)"
    )
    _manual(result["manual"])


@dsr.command("erase")
def dsr_erase(config: ConfigOpt, identity: IdentityOpt, as_json: JsonOpt = False) -> None:
    """Erase one person's data by the declared strategies, then prove it by re-reading."""
    from covenant.engine.erase import ErasureNotProven, erase

    def run(session: Session, ids: Identities) -> dict[str, Any]:
        try:
            return erase(session, ids).to_dict()
        except ErasureNotProven as exc:
            _erasure_out(exc.result.to_dict(), as_json)
            raise

    result = _run_request(config, identity, run)
    _erasure_out(result, as_json)


def _erasure_out(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_erasure(result)


def print_erasure(result: dict[str, Any]) -> None:
    """The erasure result as a table, with what was kept and why, for people."""
    table = Table(
        "collection", "action", "found", "deleted", "masked", "kept", "left", title="Erasure"
    )
    reasons: list[str] = []
    for c in result["collections"]:
        counts = (c["found"], c["deleted"], c["masked"], c["held"], c["remaining"])
        table.add_row(c["collection"], c["action"], *(str(n) for n in counts))
        if not c["found"]:
            continue
        if c["held"]:
            rows = "row" if c["held"] == 1 else "rows"
            reasons.append(f"{c['collection']}: {c['held']} {rows} held: {c['held_reason']}")
        if c["kept_reason"]:
            reasons.append(f"{c['collection']}: kept: {c['kept_reason']}")
        reasons += [
            f"{c['collection']}.{k['field']}: kept: {k['reason']}" for k in c["kept_fields"]
        ]
    out.print(table)
    if reasons:
        out.print("[bold]What was kept, and why[/]")
        for line in reasons:
            out.print(f"  - {line}", highlight=False)
    if result["verified"]:
        out.print("[green]verified[/]: re-read every collection; no erasable personal data remains")
    _manual(result["manual"])


@dsr.command("correct")
def dsr_correct(
    config: ConfigOpt,
    identity: IdentityOpt,
    sets: Annotated[
        list[str], typer.Option("--set", help="dataset.collection.field=value. Repeatable.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Set declared fields of one person's rows to new values; show before and after."""
    from covenant.engine.correct import correct, parse_sets

    changes = guarded(lambda: parse_sets(sets))
    result = _run_request(config, identity, lambda s, ids: correct(s, ids, changes).to_dict())
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    table = Table("collection", "row", "before", "after", title="Correction")
    for coll, rows in result["collection_changes"].items():
        for r in rows:
            table.add_row(
                coll,
                json.dumps(r["key"], default=str),
                json.dumps(r["before"], default=str),
                json.dumps(r["after"], default=str),
            )
    out.print(table)
    out.print("[green]verified[/]: the new values read back as written")


@app.command()
def serve(
    config: ConfigOpt,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes: one per core. More than one needs PostgreSQL "
            "(COVENANT_DATABASE_URL).",
        ),
    ] = 1,
) -> None:
    """Serve the privacy center, the staff console, the API, the statement and the banner.

    Settings come from COVENANT_* variables (docs/settings.md); COVENANT_SECRET_KEY
    is required outside local development.
    """
    import uvicorn

    from covenant.settings import Settings
    from covenant.web import create_app
    from covenant.web.app import check_workers

    settings = Settings(config=config, host=host, port=port)
    if workers > 1:
        guarded(lambda: check_workers(settings))
    application = guarded(lambda: create_app(settings))
    out.print(f"Serving on http://{host}:{port}/privacy")
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=True)
        return
    # Each worker process builds its own app from the same COVENANT_* settings.
    os.environ["COVENANT_CONFIG"] = str(config.resolve())
    uvicorn.run(
        "covenant.web.app:from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
    )


db = typer.Typer(help="Covenant's own database: requests, consent, audit.", no_args_is_help=True)
app.add_typer(db, name="db")


@db.command("upgrade")
def db_upgrade(config: ConfigOpt) -> None:
    """Create or migrate Covenant's own database (COVENANT_DATABASE_URL, or SQLite beside FILE)."""
    from covenant.db import state_url
    from covenant.migrations import upgrade
    from covenant.settings import Settings

    settings = Settings(config=config)
    raw = settings.database_url.get_secret_value() if settings.database_url else None
    url = guarded(lambda: state_url(raw, config.resolve().parent))
    guarded(lambda: upgrade(url))
    if url.get_backend_name() == "postgresql":
        # The job queue's own tables, for covenant worker (procrastinate's schema).
        from covenant.jobs.queue import conninfo, ensure_schema

        guarded(lambda: ensure_schema(conninfo(url)))
    out.print(f"[green]ok[/]: {url.render_as_string(hide_password=True)} is at the latest revision")


audit = typer.Typer(help="Covenant's audit trail: the hash-chained log.", no_args_is_help=True)
app.add_typer(audit, name="audit")

AnchorOpt = Annotated[
    str | None,
    typer.Option(
        "--anchor",
        metavar="SEQ:HASH",
        help="A head printed earlier: also prove nothing up to it was rewritten or cut off.",
    ),
]


@audit.command("verify")
def audit_verify(config: ConfigOpt, anchor: AnchorOpt = None, as_json: JsonOpt = False) -> None:
    """Verify the audit chain in Covenant's own database; exit 1 naming the first broken entry.

    The database is COVENANT_DATABASE_URL, or SQLite beside FILE. With
    COVENANT_AUDIT_KEY set, every link is checked as an HMAC with that key.
    """
    import os
    import re

    from covenant.audit import Anchor, AuditLog, VerifyResult, key_from_env

    if anchor is not None and not re.fullmatch(r"\d+:[0-9a-f]{64}", anchor.strip()):
        raise typer.BadParameter("expected SEQ:HASH, e.g. 1234:9f86d0...", param_hint="--anchor")
    pinned = Anchor.parse(anchor) if anchor is not None else None
    key = guarded(lambda: key_from_env(os.environ))

    def verify() -> VerifyResult:
        with state_engine(config, table="audit_entries", holds="no audit trail") as engine:
            log = AuditLog(engine, key=key)
            return _read_errors_are_clear(lambda: log.verify(anchor=pinned))

    result = guarded(verify)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "checked": result.checked,
                    "head": str(result.head) if result.head else None,
                    "broken_at": result.broken_at,
                    "reason": result.reason,
                }
            )
        )
    elif result.ok:
        out.print(str(result), style="green", markup=False, highlight=False)
    else:
        err.print(str(result), style="bold red", markup=False, highlight=False)
        last = f"entry {result.head}" if result.head else "none"
        err.print(f"last entry that verified: {last}", markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


def _read_errors_are_clear(fn: Callable[[], T]) -> T:
    from covenant.errors import ConnectorError

    try:
        return fn()
    except sa.exc.SQLAlchemyError as exc:
        raise ConnectorError(f"reading the audit trail failed: {type(exc).__name__}") from None


def _manual(collections: list[str]) -> None:
    if collections:
        out.print(
            "[yellow]manual[/]: no connector reaches these collections, or reaches them only "
            "partly; staff must search them: " + ", ".join(collections)
        )


def _mount() -> None:
    from covenant.api.cli import app as token_app
    from covenant.demo.cli import app as demo_app
    from covenant.jobs.cli import worker
    from covenant.staff.cli import app as staff_app

    app.add_typer(demo_app, name="demo")
    app.add_typer(staff_app, name="staff")
    app.add_typer(token_app, name="token")
    app.command("worker")(worker)


_mount()


def main() -> None:
    sys.exit(app())  # pragma: no cover
