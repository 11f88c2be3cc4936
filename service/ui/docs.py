"""The API docs: Swagger UI served from this server, no CDN, under the strict policy.

Swagger UI's files come from the `fastapi-offline` package, which ships a
current release of them; our page loads them and a start script of our own
(`static/docs.js`), since the policy runs no inline script. ReDoc is left out:
it injects styles at run time, which the policy refuses. With
`docs_require_sign_in` the page and the schema need a signed-in person; the
Swagger files themselves are public code and stay open, like `/static/`.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from service.auth.guards import PUBLIC, signed_in
from service.settings import ServiceSettings
from service.ui.static import Asset, answer, load
from service.ui.templates import page

SWAGGER = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


@functools.cache
def swagger_assets() -> dict[str, Asset]:
    """Return Swagger UI's files, read once from the installed package."""
    folder = Path(str(files("fastapi_offline") / "static"))
    return {name: asset for name, asset in load(folder).items() if name in SWAGGER}


def docs_router(settings: ServiceSettings) -> APIRouter:
    """Return the docs routes, open or behind sign-in as the settings say."""
    guard = signed_in() if settings.docs_require_sign_in else PUBLIC
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json", dependencies=[Depends(guard)])
    async def openapi(request: Request) -> JSONResponse:
        """Serve the OpenAPI schema of the app."""
        schema: dict[str, Any] = request.app.openapi()
        if root := request.scope.get("root_path", "").rstrip("/"):
            schema = {**schema, "servers": [{"url": root}]}
        return JSONResponse(schema)

    @router.get("/docs", dependencies=[Depends(guard)])
    async def docs(request: Request) -> Response:
        """Show Swagger UI on the schema."""
        return page(request, "docs.html", root=request.scope.get("root_path", "").rstrip("/"))

    @router.get("/docs/assets/{name}", dependencies=[Depends(PUBLIC)])
    async def asset(request: Request, name: str) -> Response:
        """Serve one of Swagger UI's files, by its exact name."""
        return answer(request, swagger_assets(), name)

    return router
