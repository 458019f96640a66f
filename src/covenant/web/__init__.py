"""The web service: app factory, security headers, and the public pages."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, not with the package: modules the app is built
    # from (the staff console, the privacy center) import covenant.web.csrf.
    if name == "create_app":
        from covenant.web.app import create_app

        return create_app
    raise AttributeError(name)
