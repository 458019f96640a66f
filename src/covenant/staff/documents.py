"""Staff read the documents a request came with: ``/admin/requests/{id}/documents/{n}``.

Served as an attachment, never inline, with the type recognised at upload
(:mod:`covenant.desk.documents`), so a document cannot run as a page of this
site. Every read is for a signed-in member of staff allowed to view requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from covenant.desk.service import Desk, NotFound
from covenant.staff.roles import Action
from covenant.staff.web import authorize

EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def routes() -> list[BaseRoute]:
    return [Route("/admin/requests/{rid}/documents/{n:int}", document)]


async def document(request: Request) -> Response:
    await authorize(request, Action.VIEW)
    desk: Desk = request.app.state.desk
    rid = request.path_params["rid"]
    number = request.path_params["n"]
    try:
        chunks, media = await run_in_threadpool(desk.document, rid, number)
    except NotFound:
        return Response("No such document.", status_code=404, media_type="text/plain")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    name = f"request-{rid[:8]}-document-{number + 1}.{EXTENSIONS.get(media, 'bin')}"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )
