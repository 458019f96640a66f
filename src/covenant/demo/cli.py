"""``covenant demo``: build the demo store from the command line.

Owns argument parsing and presentation only: progress and errors go to stderr,
the result to stdout (a table, or JSON with ``--json``). A failure Covenant knows
about ends with its message and exit code, never a stack trace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from covenant.demo.store import DemoStore, create
from covenant.errors import CovenantError

app = typer.Typer(
    name="demo",
    help="A demo web store full of fictional people, with its declaration, to try Covenant on.",
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=False,
)

DEFAULT_DIR = Path("covenant-demo")


@app.callback()
def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    directory: Annotated[
        Path, typer.Option(help="Folder of the demo store; created if missing.", file_okay=False)
    ] = DEFAULT_DIR,
    customers: Annotated[
        int, typer.Option(min=1, help="Customers, when the store is created.")
    ] = 1000,
) -> None:
    """Serve the demo: the privacy center, the staff console and a mail outbox on 127.0.0.1.

    Creates the demo store in DIRECTORY first if it is not there. Prints the
    addresses and a staff login made for this run. Subcommands build a store
    without serving it (create) or run two requests from the command line (run).
    """
    if ctx.invoked_subcommand is not None:
        return
    from covenant.demo.serve import serve

    try:
        serve(directory, port=port, customers=customers)
    except CovenantError as error:
        Console(stderr=True).print(f"[bold red]Error:[/] {error.message}", highlight=False)
        raise typer.Exit(error.exit_code) from None


@app.command("create")
def create_command(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Folder for covenant.yml, datasets/ and (by default) store.db.", file_okay=False
        ),
    ],
    customers: Annotated[
        int, typer.Option(min=1, help="Customers to create; about 100 rows each.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed and size, same rows.")] = 1,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Load into this PostgreSQL or MariaDB/MySQL database instead of "
            "SQLite, e.g. postgresql://postgres@127.0.0.1:5432/shop. Its demo "
            "tables are replaced; nothing else is touched."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the demo store's tables and rows, and write its declaration."""
    err = Console(stderr=True)
    try:
        store = create(
            directory,
            customers=customers,
            seed=seed,
            database_url=database_url,
            progress=not json_output and err.is_terminal,
        )
    except CovenantError as error:
        err.print(f"[bold red]Error:[/] {error.message}", highlight=False)
        raise typer.Exit(error.exit_code) from None
    if json_output:
        typer.echo(store.to_json())
    else:
        _show(store, Console())


def _show(store: DemoStore, console: Console) -> None:
    console.print(
        f"Created [bold]{store.total_rows:,}[/] rows for {store.customers:,} customers "
        f"in {store.seconds:.1f} s.\n"
        f"Database:    {store.database_url}\n"
        f"Declaration: {store.declaration}",
        highlight=False,
    )
    if store.url_env:
        console.print(
            f"The declaration reads the database URL from [bold]{store.url_env}[/]; "
            f"export it before using the declaration.",
            highlight=False,
        )
    console.print(_identities(store))


def _identities(store: DemoStore) -> Table:
    table = Table(title="Identities to try requests with", title_justify="left")
    table.add_column("Who", ratio=1)
    table.add_column("Identity", no_wrap=True)
    table.add_column("Value", no_wrap=True)  # whole, so it can be copied
    s = store.samples
    for c in s.customers:
        who = f"Customer {c.customer_id}"
        if c == s.tax_hold_customer:
            who += "\n[dim]orders older than 7 years and recent ones[/]"
        kinds = [("email", c.email), ("phone", c.phone), ("cookie_id", c.cookie_id)]
        if c.device_id:
            kinds.append(("device_id", c.device_id))
        for i, (kind, value) in enumerate(kinds):
            table.add_row(who if i == 0 else "", kind, value, end_section=i == len(kinds) - 1)
    table.add_row(
        "Visitor without an account", "cookie_id", s.anonymous_cookie_id, end_section=True
    )
    table.add_row(
        "Contest entrant, not a customer", "email", s.contest_only_email, end_section=True
    )
    table.add_row("Caller known only to the call center", "phone", s.call_only_phone)
    return table


@app.command("run")
def run_command(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder for the demo store; rebuilt on every run.", file_okay=False),
    ] = Path("covenant-demo"),
    customers: Annotated[int, typer.Option(min=1, help="Customers to create.")] = 1000,
) -> None:
    """Build the demo store, then run an access and an erasure request for one customer."""
    import os
    import secrets

    from covenant.cli import print_access, print_erasure
    from covenant.declaration import load
    from covenant.engine.access import access
    from covenant.engine.erase import erase
    from covenant.engine.identity import normalize
    from covenant.engine.session import Session

    out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    if not os.environ.get("COVENANT_HASH_KEY"):
        # The demo's keyed-hash strategy needs a key; a real store sets its own.
        os.environ["COVENANT_HASH_KEY"] = secrets.token_hex(32)
        err.print("[dim]COVENANT_HASH_KEY was not set: using a random key for this demo run.[/]")
    try:
        store = create(directory, customers=customers, seed=1, progress=err.is_terminal)
        _show(store, out)
        person = store.samples.tax_hold_customer
        loaded = load(store.declaration)
        ids = normalize(
            [("email", person.email), ("phone", person.phone)],
            loaded.catalog,
            loaded.declaration.identities,
        )
        package = store.directory / f"access-customer-{person.customer_id}.zip"
        with Session(loaded) as session:
            out.rule(f"Access request for {person.email}")
            print_access(access(session, ids, package).to_dict())
            out.rule(f"Erasure request for {person.email}")
            print_erasure(erase(session, ids).to_dict())
    except CovenantError as error:
        err.print(f"[bold red]Error:[/] {error.message}", highlight=False)
        raise typer.Exit(error.exit_code) from None
    out.print(
        "\nTry it yourself:\n"
        f"  covenant dsr access --config {store.declaration} --identity email=<an email above>\n"
        f"  COVENANT_HASH_KEY=<16+ characters> covenant dsr erase --config {store.declaration} "
        "--identity email=<an email above>"
    )
