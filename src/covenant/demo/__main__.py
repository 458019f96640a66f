"""``python -m covenant.demo``: the demo commands, before or without the main ``covenant`` CLI."""

from covenant.demo.cli import app

app(prog_name="covenant demo")
