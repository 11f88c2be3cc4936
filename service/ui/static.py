"""The UI's static files (stylesheet, scripts), served from the package by a guarded route.

Not a Starlette `StaticFiles` mount: a mount has no guard and resolves paths on
disk. The route below answers only the names in a table built once from the
folder's listing; any other name, however encoded, is a 404.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.auth.guards import PUBLIC
from service.errors import NotFound

FOLDER = Path(__file__).with_name("static")
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
TEXT = "text/plain; charset=utf-8"  # the licence files (LICENSE.htmx) and any other
CACHE = "public, max-age=3600"


class Asset(NamedTuple):
    """One file: its bytes, media type and entity tag."""

    body: bytes
    media_type: str
    etag: str


def load(folder: Path = FOLDER) -> dict[str, Asset]:
    """Return name -> asset for the regular, non-hidden files directly in `folder`."""
    found: dict[str, Asset] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
            body = path.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            found[path.name] = Asset(body, MEDIA_TYPES.get(path.suffix, TEXT), etag)
    return found


ASSETS = load()
router = APIRouter(include_in_schema=False)


def answer(request: Request, assets: dict[str, Asset], name: str) -> Response:
    """Return the asset of this exact name (304 when the client has it), or raise NotFound."""
    asset = assets.get(name)
    if asset is None:
        raise NotFound(f"no static file {name!r}")
    headers = {"Cache-Control": CACHE, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/static/{name}", dependencies=[Depends(PUBLIC)])
async def static_file(request: Request, name: str) -> Response:
    """Serve one file of the UI's static folder, by its exact name."""
    return answer(request, ASSETS, name)
