"""The OpenAPI 3.1 document of everything under ``/api/v1``. Pure.

Each operation is listed once, in :data:`OPERATIONS`; its request and
response schemas are generated from the pydantic models the code reads and
answers with (``models_json_schema``), so the document cannot describe a
field the code does not have. A test checks that every route under
``/api/v1`` is here, with its methods, and that every ``$ref`` resolves.

Security follows OpenAPI 3.1 §4.8.27-30: two HTTP bearer schemes, the scoped
API tokens of the request API and the consent API's single
``COVENANT_API_KEY``. For a non-OAuth scheme the security requirement's list
holds "role names which are required for the execution": the scopes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from covenant import __version__
from covenant.api import models
from covenant.api.scopes import DESCRIPTIONS, Scope
from covenant.consent.adtech_web import AnswerIn
from covenant.consent.prefs_web import LinkIn as UnsubscribeIn
from covenant.consent.web import ConsentIn, LinkIn, MinorIn
from covenant.web.bodies import BODY_LIMIT

REFS = "#/components/schemas/{model}"
TOKEN = "apiToken"  # noqa: S105 -- the security scheme's name
API_KEY = "apiKey"

Security = list[dict[str, list[str]]]


@dataclass(frozen=True, slots=True)
class Answer:
    description: str
    model: type[BaseModel] | None = None
    media: Literal["application/json", "text/plain"] = "application/json"
    schema: dict[str, Any] | None = None
    """A hand-written schema, for an answer no model describes."""
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    security: Security
    answers: dict[int, Answer]
    body: type[BaseModel] | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""


def _scoped(scope: Scope) -> Security:
    return [{TOKEN: [scope.value]}]


def _query(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    }


_SIGNALS = [
    {
        "name": "Sec-GPC",
        "in": "header",
        "required": False,
        "description": "Global Privacy Control: `1` opts out of sale and sharing.",
        "schema": {"type": "string", "enum": ["1"]},
    },
    {
        "name": "DNT",
        "in": "header",
        "required": False,
        "description": "Do Not Track, honoured where the declaration says so.",
        "schema": {"type": "string", "enum": ["0", "1"]},
    },
]

# Errors in the request API's JSON shape.
_UNAUTHENTICATED = Answer(
    "No token, or one that is malformed, unknown or revoked (RFC 6750 §3.1).",
    models.ErrorOut,
    headers=("WWW-Authenticate",),
)
_FORBIDDEN = Answer(
    "The token lacks the scope (RFC 6750 §3.1, insufficient_scope).",
    models.ErrorOut,
    headers=("WWW-Authenticate",),
)
_TOO_LARGE = Answer(f"The body is larger than {BODY_LIMIT // 1024} KiB.", models.ErrorOut)
_NOT_JSON = Answer("The body is not application/json.", models.ErrorOut)

# The consent API's errors are plain text (the app's error rendering).
_TEXT = {"type": "string"}
_C_BAD = Answer("The body or a parameter is not valid.", media="text/plain", schema=_TEXT)
_C_KEY = Answer(
    "COVENANT_API_KEY missing or wrong (403 when the service has none set).",
    media="text/plain",
    schema=_TEXT,
)
_C_403 = Answer("The service has no COVENANT_API_KEY set.", media="text/plain", schema=_TEXT)
_C_413 = Answer(
    f"The body is larger than {BODY_LIMIT // 1024} KiB.", media="text/plain", schema=_TEXT
)
_C_415 = Answer("The body is not application/json.", media="text/plain", schema=_TEXT)

_WRITE_ERRORS = {400: _C_BAD, 401: _C_KEY, 403: _C_403, 413: _C_413, 415: _C_415}
_READ_ERRORS = {400: _C_BAD, 401: _C_KEY, 403: _C_403}
_KEY: Security = [{API_KEY: []}]

OPERATIONS: list[Operation] = [
    Operation(
        "post",
        "/api/v1/requests",
        "submitRequest",
        "Submit a privacy request for a person",
        "requests",
        _scoped(Scope.REQUESTS_WRITE),
        {
            201: Answer(
                "The request was opened; the person got a receipt and, for every kind but the"
                " opt-outs, an e-mailed code.",
                models.RequestCreated,
                headers=("Location",),
            ),
            400: Answer("The body is not valid JSON.", models.ErrorOut),
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            413: _TOO_LARGE,
            415: _NOT_JSON,
            422: Answer("A field has a problem; nothing was written.", models.ProblemsOut),
        },
        body=models.RequestIn,
    ),
    Operation(
        "get",
        "/api/v1/requests/{id}",
        "getRequest",
        "Read a request's status",
        "requests",
        _scoped(Scope.REQUESTS_READ),
        {
            200: Answer("The request's status; never the person's details.", models.RequestStatus),
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            404: Answer("No such request (also for an id that is not one).", models.ErrorOut),
        },
        parameters=[
            {
                "name": "id",
                "in": "path",
                "required": True,
                "description": "The request's id, as the submission answered it.",
                "schema": {"type": "string", "format": "uuid"},
            }
        ],
    ),
    Operation(
        "get",
        "/api/v1/openapi.json",
        "getOpenApi",
        "This document",
        "meta",
        [],
        {200: Answer("The OpenAPI 3.1 document.", schema={"type": "object"})},
    ),
    Operation(
        "post",
        "/api/v1/consent",
        "recordConsent",
        "Record choices for a person or a device",
        "consent",
        # The banner records its own device's choices (method banner or gpc,
        # no subject) without a key; everything naming a person needs it.
        [*_KEY, {}],
        {201: Answer("The choices were recorded.", models.ConsentRecorded), **_WRITE_ERRORS},
        body=ConsentIn,
        parameters=_SIGNALS,
    ),
    Operation(
        "post",
        "/api/v1/consent/link",
        "linkConsent",
        "Tie a device's consent ID to a person, at sign-in or sign-up",
        "consent",
        _KEY,
        {201: Answer("The link was recorded.", models.ConsentWritten), **_WRITE_ERRORS},
        body=LinkIn,
    ),
    Operation(
        "post",
        "/api/v1/consent/minor",
        "markMinor",
        "Mark a person or device as a known minor",
        "consent",
        _KEY,
        {201: Answer("The mark was recorded.", models.ConsentWritten), **_WRITE_ERRORS},
        body=MinorIn,
    ),
    Operation(
        "get",
        "/api/v1/consent/decision",
        "consentDecision",
        "May this purpose or tracker category be used for this person or device?",
        "consent",
        _KEY,
        {200: Answer("The answer and why.", models.ConsentDecision), **_READ_ERRORS},
        parameters=[
            _query("subject", "The store's opaque reference for the person."),
            _query("consent_id", "The device's consent ID."),
            _query("purpose", "A declared purpose (give this or category)."),
            _query("category", "A tracker category (give this or purpose)."),
            _query("jurisdiction", "Where the person is, e.g. us-ca or eu."),
            *_SIGNALS,
        ],
    ),
    Operation(
        "get",
        "/api/v1/consent/email",
        "consentEmail",
        "May the store send this person marketing e-mail?",
        "consent",
        _KEY,
        {200: Answer("The answer and why.", models.ConsentDecision), **_READ_ERRORS},
        parameters=[
            _query("subject", "The store's opaque reference for the person.", required=True),
            _query("jurisdiction", "Where the person is, e.g. us-ca or eu."),
        ],
    ),
    Operation(
        "get",
        "/api/v1/consent/receipt",
        "consentReceipt",
        "A person's consent receipt (Kantara Consent Receipt v1.1), as a download",
        "consent",
        _KEY,
        {
            200: Answer(
                "The receipt, with the Kantara Consent Receipt v1.1.0 field names.",
                schema={"type": "object"},
            ),
            404: Answer("No consent records for this subject.", media="text/plain", schema=_TEXT),
            **_READ_ERRORS,
        },
        parameters=[
            _query("subject", "The store's opaque reference for the person.", required=True)
        ],
    ),
    Operation(
        "post",
        "/api/v1/consent/unsubscribe-link",
        "unsubscribeLink",
        "The one-click unsubscribe link and headers for one recipient's marketing mail",
        "consent",
        _KEY,
        {
            200: Answer(
                "The link, its channel, and the List-Unsubscribe and List-Unsubscribe-Post"
                " headers to send (RFC 8058 §3.1).",
                schema={
                    "type": "object",
                    "required": ["url", "channel", "headers"],
                    "properties": {
                        "url": {"type": "string", "format": "uri"},
                        "channel": {"type": "string"},
                        "headers": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                },
            ),
            **_WRITE_ERRORS,
        },
        body=UnsubscribeIn,
    ),
    Operation(
        "get",
        "/api/v1/consent/usprivacy",
        "usPrivacyString",
        "The IAB U.S. Privacy string (CCPA, version 1) for a person or device",
        "consent",
        _KEY,
        {
            200: Answer(
                "The four-character string, why, and the jurisdiction it was decided for.",
                schema={
                    "type": "object",
                    "required": ["uspString", "reason", "jurisdiction"],
                    "properties": {
                        "uspString": {"type": "string", "pattern": "^1[YN-][YN-][YN-]$"},
                        "reason": {"type": "string"},
                        "jurisdiction": {"type": "string"},
                    },
                },
            ),
            **_READ_ERRORS,
        },
        parameters=[
            _query("subject", "The store's opaque reference for the person."),
            _query("consent_id", "The device's consent ID."),
            _query("jurisdiction", "Where the person is, e.g. us-ca."),
            *_SIGNALS,
        ],
    ),
    Operation(
        "get",
        "/api/v1/consent/login-check",
        "loginCheck",
        "Must the store's login ask this person again after a material statement change?",
        "consent",
        _KEY,
        {
            200: Answer(
                "Whether to ask, the statement version to show, the version last accepted,"
                " and the changes in words (seed P23).",
                schema={
                    "type": "object",
                    "required": ["reconsent_needed", "statement_version", "changes", "reason"],
                    "properties": {
                        "reconsent_needed": {"type": "boolean"},
                        "statement_version": {"type": ["integer", "null"]},
                        "accepted_version": {"type": ["integer", "null"]},
                        "changes": {"type": "array", "items": {"type": "string"}},
                        "reason": {"type": "string"},
                    },
                },
            ),
            **_READ_ERRORS,
        },
        parameters=[
            _query("subject", "The store's opaque reference for the person.", required=True)
        ],
    ),
    Operation(
        "post",
        "/api/v1/consent/login-answer",
        "loginAnswer",
        "Record the person's answer to the changed statement at sign-in",
        "consent",
        _KEY,
        {
            201: Answer("The answer was recorded.", models.ConsentRecorded),
            409: Answer(
                "The answer names a statement version that is not the latest.",
                media="text/plain",
                schema=_TEXT,
            ),
            **_WRITE_ERRORS,
        },
        body=AnswerIn,
    ),
]


@functools.cache
def document() -> dict[str, Any]:
    """The whole document; built once, it depends only on the code."""
    refs, schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Covenant API",
            "version": __version__,
            "description": (
                "Privacy requests and consent for the store's backend. See docs/api.md."
            ),
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "tags": [
            {"name": "requests", "description": "Privacy requests (scoped API tokens)."},
            {"name": "consent", "description": "Consent (COVENANT_API_KEY)."},
            {"name": "meta", "description": "About the API itself."},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                TOKEN: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "cov_<43 characters of base64url>",
                    "description": "A token made with `covenant token create`. Scopes: "
                    + "; ".join(f"`{s.value}`: {d}" for s, d in DESCRIPTIONS.items()),
                },
                API_KEY: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The consent API's key, COVENANT_API_KEY.",
                },
            },
        },
    }


Refs = dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]


def _schemas() -> tuple[Refs, dict[str, Any]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in OPERATIONS:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        for answer in op.answers.values():
            if answer.model is not None:
                wanted[(answer.model, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=REFS)
    return dict(refs), dict(top.get("$defs", {}))  # type: ignore[arg-type]


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": op.security,
        "responses": {str(code): _answer(a, refs) for code, a in sorted(op.answers.items())},
    }
    if op.description:
        out["description"] = op.description
    if op.parameters:
        out["parameters"] = op.parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    return out


def _answer(answer: Answer, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        schema = refs[(answer.model, "serialization")]
    else:
        schema = answer.schema or {}
    out["content"] = {answer.media: {"schema": schema}}
    if answer.headers:
        out["headers"] = {name: {"schema": {"type": "string"}} for name in answer.headers}
    return out
