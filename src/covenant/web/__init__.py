"""The web service: app factory, security headers, and the public pages."""

from covenant.web.app import create_app

__all__ = ["create_app"]
