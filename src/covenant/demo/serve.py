"""``covenant demo``: the demo store served with everything on, for one person on localhost.

Local development settings (plain HTTP on 127.0.0.1), the outbox page instead
of a mail server, keys kept in files beside the demo's declaration (mode 0600)
so requests survive a restart, and a staff account whose password is made
fresh on every start and printed once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from pathlib import Path

from rich.console import Console

from covenant.demo.store import create
from covenant.desk.service import Desk
from covenant.keys import development_secret

STAFF_USER = "demo-admin"
HASH_KEY_FILE = "covenant-hash.key"
SAMPLES_FILE = "samples.json"


def serve(directory: Path, *, port: int, customers: int) -> None:
    import uvicorn

    from covenant.settings import Settings
    from covenant.staff.roles import Role
    from covenant.web.app import create_app

    out = Console(soft_wrap=True)
    declaration = directory / "covenant.yml"
    if not declaration.exists():
        out.print(f"Creating the demo store in [bold]{directory}[/] ({customers:,} customers)…")
        made = create(directory, customers=customers, seed=1, progress=out.is_terminal)
        (directory / SAMPLES_FILE).write_text(made.to_json())
    folder = declaration.resolve().parent
    _hash_key(folder)
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        config=declaration,
        host="127.0.0.1",
        port=port,
        development=True,
        outbox_page=True,
        public_url=base,
        secret_key=os.environ.get("COVENANT_SECRET_KEY") or development_secret(folder),
    )
    app = create_app(settings)
    app.state.services.open(app.state)
    password = secrets.token_urlsafe(12)
    staff = app.state.staff
    account = staff.find(STAFF_USER)
    if account is None:
        staff.create(STAFF_USER, password, Role.ADMIN)
    else:
        staff.set_password(account.id, password)
    out.print(
        "\n[bold]Covenant demo[/] for a fictional store, on your machine only.\n"
        f"  Privacy center   {base}/privacy\n"
        f"  Mail outbox      {base}/outbox   (codes and links you would get by e-mail)\n"
        f"  Staff console    {base}/admin    user [bold]{STAFF_USER}[/], "
        f"password [bold]{password}[/]\n"
        f"  Statement        {base}/privacy/statement\n"
        f"  Cookie banner    {base}/consent/demo\n"
        f"{_samples(folder, app.state.desk)}"
        "Stop with Ctrl-C.\n",
        highlight=False,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _hash_key(folder: Path) -> None:
    """The key the demo's keyed-hash erasure uses (COVENANT_HASH_KEY), kept across runs."""
    if os.environ.get("COVENANT_HASH_KEY"):
        return
    path = folder / HASH_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    os.environ["COVENANT_HASH_KEY"] = path.read_text().strip()


def _samples(folder: Path, desk: Desk) -> str:
    """A few customers to make requests as, with the details that verify them (all fictional)."""
    path = folder / SAMPLES_FILE
    if not path.exists():
        return ""
    people = json.loads(path.read_text())["identities"]["customers"][:3]
    lines = []
    for person in people:
        held = desk.point_values(person["email"])
        known = ", ".join(
            f"{name} {_shown(values[0])}" for name, values in sorted(held.items()) if values
        )
        lines.append(f"    {person['email']}  ({known})\n" if known else f"    {person['email']}\n")
    return "Customers to try, with details that verify them (fictional):\n" + "".join(lines)


def _shown(value: object) -> str:
    """A value as a person would type it: dates without their time (SQLite hands back text)."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    text = str(value)
    return text[:10] if re.match(r"\d{4}-\d{2}-\d{2}[ T]", text) else text
