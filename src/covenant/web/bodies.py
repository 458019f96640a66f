"""Reading a JSON request body for the APIs: JSON only, and never more than a limit.

JSON only, because a cross-site HTML form cannot send ``application/json``
without a CORS preflight. The limit is checked against the declared length
first and again while reading, since a chunked body declares none to trust.
Each API renders these errors its own way (JSON for the request API, plain
text for the consent API); both come from :attr:`CovenantError.status`.
"""

from __future__ import annotations

from starlette.requests import Request

from covenant.errors import CovenantError

BODY_LIMIT = 64 * 1024


class PayloadTooLarge(CovenantError):
    """The request body is larger than 64 KiB."""

    status = 413


class UnsupportedMediaType(CovenantError):
    """Send the body as application/json."""

    status = 415


async def json_bytes(request: Request, *, limit: int = BODY_LIMIT) -> bytes:
    """The raw body of a JSON request; 415 or 413 before any of it is parsed."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge()
    return bytes(body)
