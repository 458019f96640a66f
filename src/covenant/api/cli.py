"""``covenant token``: API tokens for the store's backend, and the account-token key.

``create`` prints the token once; only its hash is kept, so a lost token is
revoked and replaced, never shown again. ``list`` shows each token's name,
the first characters of its random part, its scopes and when it was last
used. ``revoke`` stops a token at once. ``account-key`` prints the key the
store's login signs account tokens with (CCPA regs §7061(a)): derived from
``COVENANT_SECRET_KEY``, so it changes when that secret does.

Covenant's own database is ``COVENANT_DATABASE_URL``, or SQLite beside the
declaration, as for ``covenant db upgrade``, which must have run first.
Changes are audited with actor ``system``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from covenant.api.scopes import Scope, parse_scopes
from covenant.api.tokens import ApiToken, ApiTokens
from covenant.clitools import ConfigOpt, JsonOpt, audit_key, err, guarded, out, state_engine

app = typer.Typer(
    name="token",
    help="API tokens for the store's backend: create, list, revoke; the account-token key.",
    no_args_is_help=True,
)
T = TypeVar("T")

NameArg = Annotated[str, typer.Argument(help="The token's name, e.g. shop-backend.")]


@contextmanager
def _tokens(config: Path) -> Iterator[ApiTokens]:
    from covenant.audit import AuditLog

    with state_engine(config, table="api_tokens", holds="no API tokens table") as engine:
        yield ApiTokens(engine, audit=AuditLog(engine, key=audit_key()))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.command("create")
def create(
    name: NameArg,
    config: ConfigOpt,
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="What the token may do; repeat for several: "
            + ", ".join(s.value for s in Scope)
            + ".",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Make a token and print it once: it cannot be shown again."""

    def run() -> tuple[str, ApiToken]:
        scopes = parse_scopes(scope)
        with _tokens(config) as tokens:
            return tokens.create(name, scopes, now=_now())

    secret, made = guarded(run)
    if as_json:
        print(json.dumps({**_as_dict(made), "token": secret}, indent=2))
        return
    err.print(
        f"[green]created[/]: {made.name} ({' '.join(sorted(made.scopes))}). Store this token"
        " in the backend's secret store now; it is not shown again:",
        highlight=False,
    )
    print(secret)


@app.command("list")
def list_tokens(config: ConfigOpt, as_json: JsonOpt = False) -> None:
    """List tokens: name, prefix, scopes, last use, state. Never the tokens themselves."""

    def run() -> list[ApiToken]:
        with _tokens(config) as tokens:
            return tokens.all()

    found = guarded(run)
    if as_json:
        print(json.dumps([_as_dict(t) for t in found], indent=2))
        return
    if not found:
        out.print("no API tokens yet: make one with covenant token create NAME --scope ...")
        return
    table = Table("name", "token", "scopes", "created", "last used", "state")
    for t in found:
        table.add_row(
            t.name,
            t.shown,
            " ".join(sorted(t.scopes)),
            f"{t.created_at:%Y-%m-%d}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active",
        )
    out.print(table)


@app.command("revoke")
def revoke(name: NameArg, config: ConfigOpt) -> None:
    """Stop a token working, at once."""

    def run() -> ApiToken:
        with _tokens(config) as tokens:
            return tokens.revoke(name, now=_now())

    done = guarded(run)
    out.print(f"[green]revoked[/]: {done.name} ({done.shown})", highlight=False)


@app.command("account-key")
def account_key(config: ConfigOpt) -> None:
    """Print, in base64, the key the store's login signs account tokens with.

    Give it to the store's backend through its secret store; anyone holding
    it can vouch that an account holder signed in.
    """

    def run() -> bytes:
        from covenant.desk.build import keys_for
        from covenant.settings import Settings

        settings = Settings(config=config)
        return keys_for(settings, config.resolve().parent).derive("account-token")

    key = guarded(run)
    err.print(
        "The account-token key (HMAC-SHA-256, 32 bytes, base64). Keep it secret:", highlight=False
    )
    print(base64.b64encode(key).decode("ascii"))


def _as_dict(token: ApiToken) -> dict[str, object]:
    return {
        "name": token.name,
        "prefix": token.shown,
        "scopes": sorted(token.scopes),
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }
