"""Command-line commands for the statement side; ``register(app)`` adds them to ``covenant``.

Commands: ``notice`` (write the statement), ``notice-publish``,
``notice-versions`` and ``notice-diff`` (versions and their changes in words),
``ropa`` (record of processing, CSV or XLSX), ``dataflow`` (SVG) and
``securitytxt``. Flat top-level names rather than a sub-app, so each is one
word to type in CI scripts (``covenant notice-publish``). Every command turns a
:class:`~covenant.errors.CovenantError` into its message and exit code.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
from rich.table import Table

from covenant.clitools import ConfigOpt, JsonOpt, err, out
from covenant.declaration import load
from covenant.errors import CovenantError

T = TypeVar("T")

OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
]
VersionsOpt = Annotated[
    Path | None,
    typer.Option(
        "--versions", help="Folder of published versions. Default: statement-versions/ beside it."
    ),
]


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CovenantError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


def _emit(text: str, path: Path | None) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
        err.print(f"wrote {path}", highlight=False)


def notice(
    config: ConfigOpt,
    fmt: Annotated[
        Literal["html", "md", "txt"], typer.Option("--format", "-f", help="html, md or txt.")
    ] = "html",
    out_path: OutOpt = None,
    versions: VersionsOpt = None,
) -> None:
    """Write the privacy statement, with the change log of published versions."""
    from covenant.notice.page import statement_page

    _emit(_guard(lambda: statement_page(load(config), fmt, versions)), out_path)


def notice_publish(
    config: ConfigOpt, versions: VersionsOpt = None, as_json: JsonOpt = False
) -> None:
    """Publish the current statement as a new version when it changed; queue a notice if material."""
    from covenant.notice.store import Published, VersionStore, default_folder

    def run() -> tuple[Published | None, VersionStore]:
        loaded = load(config)
        store = VersionStore(versions or default_folder(loaded))
        return store.publish(loaded), store

    done, store = _guard(run)
    if done is None:
        last = store.latest()
        if as_json:
            print(json.dumps({"published": False, "latest": last.number if last else None}))
        else:
            out.print(f"no change since version {last.number if last else '-'}: nothing published")
        return
    v = done.version
    if as_json:
        result = {
            "published": True,
            "version": v.number,
            "effective_date": v.effective_date,
            "material": v.material,
            "changes": [c.text for c in v.changes],
            "notice_queued": done.notice is not None,
            "folder": str(store.folder),
        }
        print(json.dumps(result, indent=2))
        return
    material = "yes" if v.material else "no"
    out.print(
        f"[green]published[/] version {v.number} (effective {v.effective_date}), "
        f"material: {material}"
    )
    for c in v.changes:
        out.print(f"  - {c.text}", highlight=False)
    if done.notice is not None:
        out.print("a change notice is queued for consumers", highlight=False)


def notice_versions(
    config: ConfigOpt, versions: VersionsOpt = None, as_json: JsonOpt = False
) -> None:
    """List the published versions of the statement."""
    from covenant.notice.store import VersionStore, default_folder
    from covenant.notice.versions import Version

    def run() -> list[Version]:
        loaded = load(config)
        return VersionStore(versions or default_folder(loaded)).versions()

    found = _guard(run)
    if as_json:
        rows = [
            {
                "version": v.number,
                "effective_date": v.effective_date,
                "published_at": v.published_at,
                "material": v.material,
                "changes": [c.text for c in v.changes],
            }
            for v in found
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table("version", "effective", "material", "changes", title="Statement versions")
    for v in found:
        table.add_row(
            str(v.number),
            v.effective_date,
            "yes" if v.material else "no",
            "; ".join(c.text for c in v.changes),
        )
    out.print(table)


def notice_diff(
    config: ConfigOpt,
    versions: VersionsOpt = None,
    from_version: Annotated[
        int | None,
        typer.Option("--from", help="Published version to compare from. Default: latest."),
    ] = None,
    to_version: Annotated[
        int | None,
        typer.Option("--to", help="Published version to compare to. Default: the declaration now."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Say in words what changed between two versions, or since the latest one."""
    from covenant.notice.errors import NoticeError
    from covenant.notice.facts import Facts
    from covenant.notice.store import VersionStore, default_folder
    from covenant.notice.versions import Change, diff, snapshot

    def run() -> tuple[int, list[Change]]:
        loaded = load(config)
        store = VersionStore(versions or default_folder(loaded))
        old = store.get(from_version) if from_version is not None else store.latest()
        if old is None:
            raise NoticeError("no version is published yet: run covenant notice-publish")
        new = store.get(to_version).snapshot if to_version else snapshot(Facts(loaded))
        return old.number, diff(old.snapshot, new)

    start, changes = _guard(run)
    end = to_version or "current"
    if as_json:
        result = {
            "from": start,
            "to": end,
            "material": any(c.material for c in changes),
            "changes": [{"text": c.text, "material": c.material} for c in changes],
        }
        print(json.dumps(result, indent=2))
        return
    if not changes:
        out.print(f"no change from version {start} to {end}")
    for c in changes:
        mark = "[yellow]material[/]" if c.material else "minor"
        out.print(f"{mark}: {c.text}", highlight=False)


def ropa(
    config: ConfigOpt,
    fmt: Annotated[Literal["csv", "xlsx"], typer.Option("--format", "-f", help="csv or xlsx.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The file to write.")],
) -> None:
    """Write the record of processing activities (GDPR Art. 30(1)) as CSV or XLSX."""

    def run() -> None:
        loaded = load(config)
        if fmt == "csv":
            from covenant.notice.ropa import to_csv

            out_path.write_text(to_csv(loaded), encoding="utf-8", newline="")
        else:
            from covenant.notice.ropa_xlsx import to_xlsx

            to_xlsx(loaded, out_path)

    _guard(run)
    err.print(f"wrote {out_path}", highlight=False)


def dataflow(config: ConfigOpt, out_path: OutOpt = None) -> None:
    """Draw where personal data flows, systems to recipients, as SVG."""
    from covenant.notice.dataflow import svg

    _emit(_guard(lambda: svg(load(config))), out_path)


def securitytxt(config: ConfigOpt, out_path: OutOpt = None) -> None:
    """Write /.well-known/security.txt (RFC 9116) from the declaration."""
    from covenant.notice.securitytxt import security_txt

    _emit(_guard(lambda: security_txt(load(config), dt.datetime.now(dt.UTC))), out_path)


def register(app: typer.Typer) -> None:
    """Add the statement commands to the ``covenant`` command line."""
    app.command("notice")(notice)
    app.command("notice-publish")(notice_publish)
    app.command("notice-versions")(notice_versions)
    app.command("notice-diff")(notice_diff)
    app.command("ropa")(ropa)
    app.command("dataflow")(dataflow)
    app.command("securitytxt")(securitytxt)
