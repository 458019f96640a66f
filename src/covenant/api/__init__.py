"""The request API for the store's backend, under ``/api/v1``.

``tokens`` (scoped API tokens, hashed at rest), ``auth`` (the bearer check),
``intake`` (a request body, checked; pure), ``web`` (the routes), ``openapi``
(the document, generated from ``models``; pure) and ``cli``
(``covenant token``). The consent API stays in :mod:`covenant.consent.web`;
this package only describes it in the OpenAPI document.
"""
