"""The request API's errors, each with its HTTP status and the headers it must carry.

They render as JSON (:func:`covenant.api.web.error_response`): ``{"error":
message}``, and ``"problems"`` (field -> message) for a body that is not
valid. The consent API's errors keep the app's plain-text rendering.
"""

from __future__ import annotations

from covenant.api.scopes import Scope
from covenant.errors import CovenantError

REALM = "covenant"


class ApiError(CovenantError):
    """The API could not do that."""

    status = 400

    @property
    def headers(self) -> dict[str, str]:
        return {}


class NotAuthenticated(ApiError):
    """Send a valid API token: Authorization: Bearer cov_..."""

    status = 401

    def __init__(self, *, given: bool) -> None:
        super().__init__()
        self.given = given

    @property
    def headers(self) -> dict[str, str]:
        challenge = f'Bearer realm="{REALM}"'
        if self.given:
            challenge += ', error="invalid_token"'
        return {"www-authenticate": challenge}


class ScopeMissing(ApiError):
    """This token may not do that."""

    status = 403

    def __init__(self, scope: Scope) -> None:
        super().__init__(f"This token does not have the {scope.value} scope.")
        self.scope = scope

    @property
    def headers(self) -> dict[str, str]:
        return {
            "www-authenticate": (
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{self.scope.value}"'
            )
        }


class Unprocessable(ApiError):
    """The request has problems; nothing was written."""

    status = 422

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__()
        self.problems = problems


class BadJson(ApiError):
    """The body is not valid JSON."""

    status = 400


class RequestNotFound(ApiError):
    """No such request."""

    status = 404
