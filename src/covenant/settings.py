"""Typed settings for the service, read from ``COVENANT_*`` environment variables.

Built once by whoever starts the service and passed in (``create_app(settings)``);
never a module-level global that everything imports. Secrets are
``SecretStr``, so they print as ``'**********'``.
"""

from __future__ import annotations

from pathlib import Path

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
