"""Writing the demo store's declaration: ``covenant.yml`` and ``datasets/shop.yml``.

Owns the choice of how the connection appears in the declaration: a relative
``sqlite:///store.db`` for the default embedded store (resolved against the
declaration's folder), the URL itself when it holds no password, otherwise a
reference to an environment variable, since a declaration never holds secrets.
``covenant.yml`` is a commented template kept next to this module, because it is
also the example people read to learn the format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import yaml
from sqlalchemy.engine import URL

from covenant.demo.dataset import document

URL_ENV = "SHOP_DATABASE_URL"
"""The variable the declaration names when the store's URL holds a password."""

DATASET_FILE = Path("datasets") / "shop.yml"
_PLACEHOLDER = "__CONNECTION_URL__"


@dataclass(frozen=True, slots=True)
class Written:
    declaration: Path
    dataset: Path
    url_env: str | None
    """Set when the connection is a reference: export this variable before use."""


def write(directory: Path, url: URL, *, relative_sqlite: str | None) -> Written:
    """Write both files into ``directory``; ``relative_sqlite`` names the default store file."""
    dataset_path = directory / DATASET_FILE
    dataset_path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `covenant demo create` from the demo store's schema.\n"
    body = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
    dataset_path.write_text(header + body, encoding="utf-8")
    connection, url_env = _connection(url, relative_sqlite)
    template = files("covenant.demo").joinpath("covenant.template.yml").read_text("utf-8")
    declaration_path = directory / "covenant.yml"
    declaration_path.write_text(template.replace(_PLACEHOLDER, connection), encoding="utf-8")
    return Written(declaration_path, dataset_path, url_env)


def _connection(url: URL, relative_sqlite: str | None) -> tuple[str, str | None]:
    """The YAML for ``connection.url``, and the variable to export when it is a reference."""
    if relative_sqlite is not None:
        return json.dumps(f"sqlite:///{relative_sqlite}"), None
    if url.password:
        return "{$env: " + URL_ENV + "}", URL_ENV
    # A JSON string is a valid YAML scalar, quoted and escaped.
    return json.dumps(url.render_as_string(hide_password=False)), None
