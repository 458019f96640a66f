"""Typed settings for the service, read from ``COVENANT_*`` environment variables.

Built once by whoever starts the service and passed in (``create_app(settings)``);
never a module-level global that everything imports. Secrets are
``SecretStr``, so they print as ``'**********'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COVENANT_", frozen=True)

    config: Path = Field(default=Path("covenant.yml"))
    """The declaration the service runs from (``COVENANT_CONFIG``)."""

    host: str = "127.0.0.1"
    """Interface to listen on (``COVENANT_HOST``)."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port to listen on (``COVENANT_PORT``)."""

    database_url: SecretStr | None = None
    """Covenant's own database (``COVENANT_DATABASE_URL``), e.g. PostgreSQL in
    production; SQLite beside the declaration when unset. Secret: it may hold a password."""

    api_key: SecretStr | None = None
    """The bearer token the store's backend sends to the API (``COVENANT_API_KEY``).
    Without it, every API call that names a person or acts as staff is refused."""

    secret_key: SecretStr | None = None
    """Signs links and sessions (``COVENANT_SECRET_KEY``); a random one per start if unset."""

    development: bool = False
    """Local development (``COVENANT_DEVELOPMENT``): allows plain HTTP on localhost.
    Outside it, every response carries HSTS and cookies are Secure."""

    public_url: str = "http://127.0.0.1:8000"
    """Where people reach the service (``COVENANT_PUBLIC_URL``): the base of every link
    in a message. No trailing slash."""

    smtp_host: str | None = None
    """The mail server (``COVENANT_SMTP_HOST``). Unset: messages wait in the outbox."""

    smtp_port: int = Field(default=587, ge=1, le=65535)
    """``COVENANT_SMTP_PORT``: 587 for submission with STARTTLS, 465 for implicit TLS."""

    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    """``COVENANT_SMTP_SECURITY``. ``none`` only for a relay on the same host or in tests."""

    smtp_username: str | None = None
    """``COVENANT_SMTP_USERNAME``; with no username, no login is attempted."""

    smtp_password: SecretStr | None = None
    """``COVENANT_SMTP_PASSWORD``."""

    mail_from: str = "privacy@localhost"
    """The sender of every message (``COVENANT_MAIL_FROM``)."""

    outbox_page: bool = False
    """Show sent and waiting messages at ``/outbox`` (``COVENANT_OUTBOX_PAGE``): for the
    demo only, since messages hold codes and links. Never enable it in production."""

    jobs: Literal["auto", "inprocess", "procrastinate"] = "auto"
    """How fulfilment jobs run (``COVENANT_JOBS``): ``auto`` is the procrastinate queue
    when Covenant's own database is PostgreSQL, else in the service's own process."""
