"""The privacy center at ``/privacy``: people make and follow their requests here.

Server-rendered, so it works without JavaScript and on any phone; every form
carries a CSRF token (:mod:`covenant.web.csrf`). Every page answers in the
same words whether or not the person is a customer. The data-points step
takes at least :data:`FLOOR` seconds to answer, found or not, so its timing
does not tell either.

The status page is reached by an unguessable link (the request id and a MAC
over it), which is mailed to the requester and shown after submitting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from covenant.desk import documents
from covenant.desk.intake import SubmissionRefused, parse
from covenant.desk.service import Desk, DeskError, NotFound
from covenant.errors import CovenantError
from covenant.mail.messages import KIND_WORDS
from covenant.requests import codes
from covenant.requests.lifecycle import Kind, State
from covenant.staff.ratelimit import TokenBucket
from covenant.web.csrf import check_csrf, csrf_token, with_csrf_cookie

FLOOR = 0.35
"""Seconds the data-points answer takes at least (found or not)."""
MAX_FORM_BYTES = 64 * 1024
UPLOADS = ("permission", "evidence")
"""The request form's file fields: an agent's signed permission, proof for a correction."""
STYLESHEET = "/privacy/static/center.css"

STATE_WORDS = {
    State.RECEIVED: "We received your request.",
    State.AWAITING_VERIFICATION: "We are waiting for you to confirm it is you.",
    State.VERIFIED: "You are verified. Our privacy team is reviewing the request.",
    State.IN_PROGRESS: "We are working on your request.",
    State.COMPLETED: "Your request is complete.",
    State.DENIED: "We could not complete your request.",
    State.CANCELLED: "This request was cancelled.",
}

KIND_CHOICES = [
    (Kind.ACCESS, "Get a copy of my data", "A download of everything we hold about you."),
    (
        Kind.KNOW_CATEGORIES,
        "Know what kinds of data you hold",
        "The categories, where they come from, why we use them and who receives them.",
    ),
    (Kind.DELETE, "Delete my data", "We delete it, except what a law requires us to keep."),
    (Kind.CORRECT, "Correct my data", "Tell us what is wrong and what it should be."),
    (
        Kind.OPT_OUT_SALE,
        "Do not sell or share my data",
        "No proof of identity needed; takes effect within 15 business days at most.",
    ),
    (
        Kind.OPT_OUT_MARKETING,
        "Stop marketing messages",
        "No proof of identity needed.",
    ),
]


class TooManyRequests(CovenantError):
    """Too many attempts from here. Wait a minute and try again."""

    status = 429


def routes() -> list[BaseRoute]:
    return [
        Route("/privacy", index),
        Route("/privacy/request", request_form, methods=["GET", "POST"]),
        Route("/privacy/requests/{rid}/{token}", status, methods=["GET"]),
        Route("/privacy/requests/{rid}/{token}/code", code, methods=["POST"]),
        Route("/privacy/requests/{rid}/{token}/resend", resend, methods=["POST"]),
        Route("/privacy/requests/{rid}/{token}/points", points, methods=["POST"]),
        Route("/privacy/requests/{rid}/{token}/confirm", confirm_action, methods=["POST"]),
        Route("/privacy/confirm/{rid}/{token}", confirm, methods=["GET", "POST"]),
        Route("/privacy/download/{rid}/{token}", download),
        Route(STYLESHEET, stylesheet),
    ]


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("covenant.desk", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _limiter(request: Request) -> TokenBucket:
    bucket: TokenBucket | None = getattr(request.app.state, "privacy_limit", None)
    if bucket is None:
        bucket = TokenBucket(capacity=20, per_second=20 / 60)
        request.app.state.privacy_limit = bucket
    return bucket


def _limit(request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    if _limiter(request).take(client, now=time.monotonic()) > 0:
        raise TooManyRequests()


def _page(request: Request, name: str, /, status_code: int = 200, **context: Any) -> Response:
    token = csrf_token(request, None)
    desk = _desk(request)
    org = desk.loaded.declaration.organization
    html = _env.get_template(name).render(
        csrf=token,
        organization=org.name,
        contacts=org.contacts,
        stylesheet=STYLESHEET,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    return with_csrf_cookie(request, response)


async def _form(request: Request, *, files: int = 0) -> FormData:
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    limit = MAX_FORM_BYTES + (files * (documents.MAX_BYTES + 4096) if multipart else 0)
    declared = request.headers.get("content-length") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise FormTooLarge()
    # max_part_size bounds text fields; files are bounded when read (_attachments).
    form = await request.form(max_files=files, max_fields=100, max_part_size=MAX_FORM_BYTES)
    try:
        check_csrf(request, form)
    except CovenantError:
        await form.close()  # an uploaded file's spool must not outlive the refusal
        raise
    return form


async def _attachments(form: FormData) -> tuple[bytes, ...]:
    """The files sent with the form: an agent's permission, proof for a correction."""
    found = []
    for name in UPLOADS:
        upload = form.get(name)
        if isinstance(upload, UploadFile):
            content = await upload.read(documents.MAX_BYTES + 1)
            if not content:
                continue
            if len(content) > documents.MAX_BYTES:
                raise FormTooLarge(f"A file is larger than {documents.MAX_BYTES // 2**20} MB.")
            try:
                documents.media_type(content[:16])  # refused before anything is written
            except documents.DocumentRefused as exc:
                raise SubmissionRefused({name: exc.message}) from None
            found.append(content)
    return tuple(found)


class FormTooLarge(CovenantError):
    """The form is too large."""

    status = 413


async def index(request: Request) -> Response:
    return _page(request, "index.html", kinds=KIND_CHOICES)


async def request_form(request: Request) -> Response:
    desk = _desk(request)
    fields = correctable(desk)
    if request.method == "GET":
        kind = request.query_params.get("kind", "")
        return _page(
            request,
            "request.html",
            kinds=KIND_CHOICES,
            chosen=kind,
            values={},
            problems={},
            correctable=fields,
            jurisdictions=jurisdictions(desk),
            minimum_age=desk.loaded.declaration.organization.minimum_age,
        )
    _limit(request)
    form = await _form(request, files=len(UPLOADS))
    try:
        return await _submit(request, desk, form, fields)
    finally:
        await form.close()


async def _submit(
    request: Request, desk: Desk, form: FormData, fields: list[tuple[str, str]]
) -> Response:
    data = _submission_data(form)
    try:
        submission = parse(data)
        attachments = await _attachments(form)
        made = await run_in_threadpool(desk.submit, submission, attachments=attachments)
    except SubmissionRefused as exc:
        problems = exc.problems
        return _page(
            request,
            "request.html",
            status_code=400,
            kinds=KIND_CHOICES,
            chosen=str(form.get("kind", "")),
            values=data,
            problems=problems,
            correctable=fields,
            jurisdictions=jurisdictions(desk),
            minimum_age=desk.loaded.declaration.organization.minimum_age,
        )
    return RedirectResponse(
        f"/privacy/requests/{made.id}/{desk.status_token(made.id)}?m=sent", status_code=303
    )


def _submission_data(form: FormData) -> dict[str, Any]:
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    corrections: dict[str, str] = {}
    for i in range(3):
        target = text.get(f"fix_field_{i}", "")
        value = text.get(f"fix_value_{i}", "")
        if target and value:
            corrections[target] = value
    data: dict[str, Any] = {
        key: text[key]
        for key in ("kind", "email", "name", "jurisdiction", "agent_name", "agent_email", "phone")
        if key in text
    }
    data["declaration_signed"] = text.get("declaration_signed") == "yes"
    data["about_minor"] = text.get("about_minor") == "yes"
    if corrections:
        data["corrections"] = corrections
    return data


def correctable(desk: Desk) -> list[tuple[str, str]]:
    return desk.correctable_fields()


def jurisdictions(desk: Desk) -> list[tuple[str, str]]:
    names = {
        "us-ca": "California",
        "us": "Elsewhere in the United States",
        "eu": "The European Union",
        "uk": "The United Kingdom",
        "ca": "Canada",
        "in": "India",
    }
    declared = desk.loaded.declaration.organization.jurisdictions
    return [(j, names[j]) for j in declared]


async def _status_of(request: Request) -> tuple[Desk, str, str]:
    desk = _desk(request)
    rid = request.path_params["rid"]
    token = request.path_params["token"]
    await run_in_threadpool(desk.check_status, rid, token)
    return desk, rid, token


async def status(request: Request) -> Response:
    desk, rid, token = await _status_of(request)
    view = await run_in_threadpool(_view, desk, rid)
    prefill = request.query_params.get("code", "")
    shown = request.query_params.get("m", "")
    message = _MESSAGES.get(shown, "")
    if shown == "checked":
        message = await run_in_threadpool(lambda: desk.details(rid).last_reason)
    return _page(
        request,
        "status.html",
        base=f"/privacy/requests/{rid}/{token}",
        prefill=prefill if prefill.isdigit() and len(prefill) <= 12 else "",
        message=message,
        **view,
    )


_MESSAGES = {
    "sent": "We sent a message with a code to the e-mail address you gave. It may take a minute.",
    "wrong": "That code is not right. Check the latest message we sent and try again.",
    "expired": "That code has expired or was used up. Ask for a new one below.",
    "resent": "We sent a new code. Only the newest code works.",
    "nomore": "We cannot send more codes for this request. Make a new request if you need to.",
    "passed": "Thank you, your e-mail address is confirmed.",
    "confirmed": "Thank you. We recorded your confirmation.",
    "confirmed_action": "Thank you. You confirmed the deletion; we are going ahead with it.",
}


def _view(desk: Desk, rid: str) -> dict[str, Any]:
    request = desk.store.get(rid)
    step = desk.next_step(rid)
    info = desk.details(rid)
    answered = desk.answered_as(request, info)
    result = desk.result(rid) if request.state is State.COMPLETED else None
    agent = desk.agent_check(request, info) if info.agent_email else None
    return {
        "req": request,
        "state_words": (
            "You have proved who you are. Confirm the deletion below to go ahead."
            if step.name == "confirm"
            else STATE_WORDS[request.state]
        ),
        "asks": KIND_WORDS[request.kind],
        "answered_as": answered,
        "step": step,
        "respond_by": desk._day(request.respond_by) if request.respond_by else None,
        "categories": (result or {}).get("categories")
        if answered is Kind.KNOW_CATEGORIES
        else None,
        "delivered": desk.delivered(rid) if request.state is State.COMPLETED else None,
        "agent_missing": agent.missing if agent is not None else [],
        "denial": request.denial_reason,
    }


async def code(request: Request) -> Response:
    _limit(request)
    desk, rid, token = await _status_of(request)
    form = await _form(request)
    outcome = await run_in_threadpool(desk.check_code, rid, str(form.get("code", "")))
    m = {
        codes.Outcome.PASSED: "passed",
        codes.Outcome.WRONG: "wrong",
        codes.Outcome.EXPIRED: "expired",
        codes.Outcome.EXHAUSTED: "expired",
    }[outcome]
    return RedirectResponse(f"/privacy/requests/{rid}/{token}?m={m}", status_code=303)


async def resend(request: Request) -> Response:
    _limit(request)
    desk, rid, token = await _status_of(request)
    await _form(request)
    sent = await run_in_threadpool(desk.resend_code, rid)
    m = "resent" if sent else "nomore"
    return RedirectResponse(f"/privacy/requests/{rid}/{token}?m={m}", status_code=303)


async def points(request: Request) -> Response:
    _limit(request)
    started = time.monotonic()
    desk, rid, token = await _status_of(request)
    form = await _form(request)
    supplied = {
        k.removeprefix("point_"): v
        for k, v in form.items()
        if isinstance(v, str) and k.startswith("point_") and v.strip()
    }
    signed = form.get("declaration_signed") == "yes"
    try:
        await run_in_threadpool(desk.check_points, rid, supplied, declaration_signed=signed)
    except DeskError:
        return RedirectResponse(f"/privacy/requests/{rid}/{token}", status_code=303)
    # The same answer time whether or not a record was found.
    await asyncio.sleep(max(0.0, FLOOR - (time.monotonic() - started)))
    # Post, then redirect: a reload shows the answer again without re-sending the details.
    return RedirectResponse(f"/privacy/requests/{rid}/{token}?m=checked", status_code=303)


async def confirm_action(request: Request) -> Response:
    _limit(request)
    desk, rid, token = await _status_of(request)
    await _form(request)
    try:
        await run_in_threadpool(desk.confirm_action, rid)
    except DeskError:
        return RedirectResponse(f"/privacy/requests/{rid}/{token}", status_code=303)
    return RedirectResponse(f"/privacy/requests/{rid}/{token}?m=confirmed_action", status_code=303)


async def confirm(request: Request) -> Response:
    desk = _desk(request)
    rid = request.path_params["rid"]
    token = request.path_params["token"]
    if request.method == "GET":
        return _page(request, "confirm.html", action=f"/privacy/confirm/{rid}/{token}")
    _limit(request)
    await _form(request)
    await run_in_threadpool(desk.consumer_confirms, rid, token)
    return _page(request, "confirm.html", action=None)


async def download(request: Request) -> Response:
    _limit(request)
    desk = _desk(request)
    rid = request.path_params["rid"]
    token = request.path_params["token"]
    try:
        chunks, name = await run_in_threadpool(desk.download, rid, token)
    except NotFound:
        return _page(request, "gone.html", status_code=404)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


async def stylesheet(request: Request) -> Response:
    css = (Path(__file__).parent / "static" / "center.css").read_text()
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})
