"""Who is calling the request API: a bearer token, and the scope it needs.

The store's backend sends ``Authorization: Bearer cov_...`` (RFC 6750 §2.1);
a token in the query string or the body is never read (§2.3 and §5.3: URLs
end up in logs). A missing token is answered 401 with a bare
``WWW-Authenticate: Bearer`` challenge, a token that is malformed, unknown
or revoked with 401 and ``error="invalid_token"``, all three in the same
words, so a caller learns nothing about which tokens exist; a good token
without the scope gets 403 and ``error="insufficient_scope"`` (§3.1).

``COVENANT_API_KEY`` still guards the consent API
(:func:`covenant.consent.web.require_backend`); the request API takes only
scoped tokens.
"""

from __future__ import annotations

import datetime as dt

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request

from covenant.api.errors import NotAuthenticated, ScopeMissing
from covenant.api.scopes import Scope
from covenant.api.tokens import ApiToken, ApiTokens


def bearer(headers: Headers) -> str | None:
    """The bearer token sent, or None when there is no Authorization header.

    Raises :class:`NotAuthenticated` for a header that is not one bearer
    credential (two headers, another scheme, nothing after the scheme).
    """
    values = headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise NotAuthenticated(given=True)
    scheme, _, credentials = values[0].strip().partition(" ")
    credentials = credentials.strip()
    # The scheme is case-insensitive (RFC 9110 §11.1).
    if scheme.lower() != "bearer" or not credentials:
        raise NotAuthenticated(given=True)
    return credentials


async def require_scope(request: Request, scope: Scope | str) -> ApiToken:
    """The calling token, if it is live and has ``scope``; 401 or 403 otherwise."""
    wanted = Scope(scope)
    token = bearer(request.headers)
    if token is None:
        raise NotAuthenticated(given=False)
    desk = request.app.state.desk
    tokens = ApiTokens(desk.engine)
    now: dt.datetime = desk.clock()
    found = await run_in_threadpool(tokens.verify, token, now=now)
    if found is None:
        raise NotAuthenticated(given=True)
    if wanted not in found.scopes:
        raise ScopeMissing(wanted)
    return found
