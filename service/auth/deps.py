"""The access control the lifespan built, as a typed dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.auth.control import AccessControl


async def access(request: Request) -> AccessControl:
    """Return identities, sessions, lockout and the masking policy."""
    value: AccessControl = request.state.access
    return value


AccessDep = Annotated[AccessControl, Depends(access)]
