"""The request API under ``/api/v1``: submit a request, read its status, the OpenAPI document.

Owns the HTTP shape of the request API: scoped bearer tokens
(:mod:`covenant.api.auth`), JSON bodies capped at 64 KiB and checked before
anything is written (:mod:`covenant.api.intake`), and JSON errors. Errors
are rendered here rather than by the app's plain-text handler because an API
client parses them, and because a 401 must carry its ``WWW-Authenticate``
challenge (RFC 6750 §3). The use cases themselves are the desk's
(:class:`covenant.desk.service.Desk`); nothing here holds SQL.

Needs ``app.state.desk`` (its engine, clock, keys and declaration), opened
by the app's services before the first request.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from covenant.api.auth import require_scope
from covenant.api.errors import (
    ApiError,
    BadJson,
    RequestNotFound,
    Unprocessable,
)
from covenant.api.intake import read_request
from covenant.api.models import RequestCreated, RequestStatus
from covenant.api.openapi import document
from covenant.api.scopes import Scope
from covenant.desk.service import Desk
from covenant.desk.service import NotFound as DeskNotFound
from covenant.errors import CovenantError, IdentityError
from covenant.mail.messages import BadAddress, UnsafeHeader
from covenant.requests.lifecycle import Channel, TransitionRefused
from covenant.web.bodies import json_bytes

log = logging.getLogger(__name__)

REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Endpoint = Callable[[Request], Awaitable[Response]]


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/requests", submit, methods=["POST"]),
        Route("/api/v1/requests/{id}", status, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
    ]


def error_response(exc: CovenantError) -> Response:
    """The JSON answer for an error: ``{"error": ...}``, plus ``problems`` for a 422."""
    status = exc.status if 400 <= exc.status < 600 else 500
    if status >= 500:
        # The detail stays in the log; the caller learns only that it failed.
        log.error("%s: %s", type(exc).__name__, exc.message)
        return _json({"error": "Something went wrong on our side."}, status)
    body: dict[str, Any] = {"error": exc.message}
    if isinstance(exc, Unprocessable):
        body["problems"] = exc.problems
    headers = exc.headers if isinstance(exc, ApiError) else {}
    return _json(body, status, headers)


def json_errors(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except CovenantError as exc:
            return error_response(exc)

    return wrapped


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object; 415, 413, 400 or 422 before anything is written."""
    body = await json_bytes(request)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: 64 KiB of "[" nests deeper than the parser can follow.
        raise BadJson() from None
    if not isinstance(data, dict):
        raise Unprocessable({"body": "Send a JSON object."})
    return data


@json_errors
async def submit(request: Request) -> Response:
    token = await require_scope(request, Scope.REQUESTS_WRITE)
    data = await read_json(request)
    desk: Desk = request.app.state.desk
    intake = read_request(
        data,
        account_key=desk.keys.derive("account-token"),
        now=desk.clock(),
        correctable={key for key, _ in desk.correctable_fields()},
    )

    def run() -> str:
        verified_by = "account_token" if intake.account is not None else None
        try:
            made = desk.submit(
                intake.submission, channel=Channel.API, actor=token.actor, verified_by=verified_by
            )
        except (IdentityError, BadAddress, UnsafeHeader) as exc:
            # An address the desk cannot normalize or write to, though it looks like one.
            raise Unprocessable({"email": exc.message}) from None
        return made.id

    request_id = await run_in_threadpool(run)
    made = await run_in_threadpool(desk.store.get, request_id)
    created = RequestCreated(
        id=made.id,
        state=made.state,
        status_url=desk.status_url(made.id),
        respond_by=made.respond_by,
    )
    return _json(created.model_dump(mode="json"), 201, {"location": f"/api/v1/requests/{made.id}"})


@json_errors
async def status(request: Request) -> Response:
    await require_scope(request, Scope.REQUESTS_READ)
    request_id = request.path_params["id"]
    if not REQUEST_ID.fullmatch(request_id):
        raise RequestNotFound()  # the same answer as for an id that is well formed but unknown
    desk: Desk = request.app.state.desk

    def read() -> RequestStatus:
        try:
            made = desk.store.get(request_id)
            step = desk.next_step(request_id)
        except (TransitionRefused, DeskNotFound):
            raise RequestNotFound() from None
        return RequestStatus(
            id=made.id,
            kind=made.kind,
            state=made.state,
            received_at=made.received_at,
            respond_by=made.respond_by,
            responded_at=made.responded_at,
            denial_reason=made.denial_reason,
            next_step=step.name,
        )

    found = await run_in_threadpool(read)
    return _json(found.model_dump(mode="json"), 200)


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document())


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    # no-store: answers carry status links that act as passwords (RFC 9111 §5.2.2.5).
    return JSONResponse(
        body, status_code=status, headers={"cache-control": "no-store", **(headers or {})}
    )
