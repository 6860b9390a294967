"""``/static/…``: the committed CSS, images and scripts of the web UI.

Files are read once from the package (``hygie/web/static``) and served from memory with their
type, an ETag and a one-year ``immutable`` cache lifetime: their URLs carry a digest of their
content (:func:`hygie.web.render.static_url`), so a new version is a new URL. Only files listed
in :data:`hygie.web.render.STATIC_FILES` (and the vendor licences) are served.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hygie.web.render import STATIC_FILES, static_digest

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@cache
def _load(name: str) -> bytes:
    return resources.files("hygie.web").joinpath("static", name).read_bytes()


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        return Response(b"Not found", status_code=404, media_type="text/plain")
    etag = f'"{static_digest(name)}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(None, status_code=304, headers=headers)
    media = TYPES.get(name[name.rfind(".") :], "application/octet-stream")
    return Response(_load(name), media_type=media, headers=headers)


def static_routes() -> list[Route]:
    return [Route("/static/{name:path}", static, methods=["GET", "HEAD"])]
