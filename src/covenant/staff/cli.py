"""``covenant staff``: add, list and disable console accounts from the command line.

The first administrator can only be made here (nobody can sign in to make
one). A password is never a command-line argument, where ``ps`` and shell
history would show it: it is typed twice at a hidden prompt, or read from
standard input with ``--password-stdin`` (for scripts and secret stores).

Covenant's own database is ``COVENANT_DATABASE_URL``, or SQLite beside the
declaration, as for ``covenant db upgrade``, which must have run first.
Changes are audited with actor ``system``; with ``COVENANT_AUDIT_KEY`` set
the entries are keyed as the service keys them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from covenant.clitools import ConfigOpt, audit_key, guarded, out, state_engine
from covenant.staff.accounts import Account, NoSuchAccount, StaffAccounts
from covenant.staff.roles import Role

app = typer.Typer(
    name="staff",
    help="Staff accounts for the console at /admin: add, list, disable.",
    no_args_is_help=True,
)
T = TypeVar("T")

UsernameArg = Annotated[str, typer.Argument(help="The account's username (stored lower-case).")]


@contextmanager
def _accounts(config: Path) -> Iterator[StaffAccounts]:
    from covenant.audit import AuditLog

    with state_engine(config, table="staff_accounts", holds="no staff accounts table") as engine:
        yield StaffAccounts(engine, AuditLog(engine, key=audit_key()))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line; only the line ending is dropped: spaces may be part of it.
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    username: UsernameArg,
    config: ConfigOpt,
    role: Annotated[Role, typer.Option("--role", help="What the account may do.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a staff account; the password is prompted for twice, hidden."""

    def run() -> Account:
        with _accounts(config) as accounts:  # a missing database is said before the prompt
            return accounts.create(username, _read_password(password_stdin), role)

    made = guarded(run)
    out.print(
        f"[green]added[/]: {made.username} ({made.role.value}), staff:{made.id}", highlight=False
    )


@app.command("list")
def list_accounts(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print structured JSON.")] = False,
) -> None:
    """List staff accounts with their role and state."""

    def run() -> list[Account]:
        with _accounts(config) as accounts:
            return accounts.all()

    found = guarded(run)
    if as_json:
        print(json.dumps([_as_dict(a) for a in found], indent=2))
        return
    if not found:
        out.print("no staff accounts yet: add one with covenant staff add USERNAME --role admin")
        return
    table = Table("id", "username", "role", "created", "state")
    for a in found:
        table.add_row(
            f"staff:{a.id}", a.username, a.role.value, f"{a.created_at:%Y-%m-%d}", _state(a)
        )
    out.print(table)


@app.command("disable")
def disable(username: UsernameArg, config: ConfigOpt) -> None:
    """Stop an account signing in and end its sessions at once."""

    def run() -> Account:
        with _accounts(config) as accounts:
            found = accounts.find(username)
            if found is None:
                raise NoSuchAccount()
            return accounts.disable(found.id)

    done = guarded(run)
    out.print(f"[green]disabled[/]: {done.username} (staff:{done.id})", highlight=False)


def _state(account: Account) -> str:
    if account.disabled_at is not None:
        return f"disabled {account.disabled_at:%Y-%m-%d}"
    return "active"


def _as_dict(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role.value,
        "created_at": account.created_at.isoformat(),
        "disabled_at": account.disabled_at.isoformat() if account.disabled_at else None,
    }
