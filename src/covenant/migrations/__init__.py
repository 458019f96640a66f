"""Alembic migrations for Covenant's own database, and the helpers that run them."""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config


def config(url: sa.URL) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("covenant") / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: sa.URL, revision: str = "head") -> None:
    """Bring Covenant's own database to ``revision``; safe to run again."""
    command.upgrade(config(url), revision)
