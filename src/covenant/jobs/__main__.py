"""``python -m covenant.jobs``: the worker, before or without the main ``covenant`` CLI."""

import typer

from covenant.jobs.cli import worker

typer.run(worker)
