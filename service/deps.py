"""Typed dependencies: what the lifespan built, handed to routes.

They are `async` because they only look things up: FastAPI would run a plain
function in its thread pool, a hop that costs more than the lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from features.online import OnlineFeatures
from features.settings import Settings
from service.auth.control import AccessControl
from service.models import ModelHolder
from service.scoring.service import ScoringService


@dataclass
class Runtime:
    """Everything heavy, built once at startup."""

    settings: Settings
    model: ModelHolder
    features: OnlineFeatures
    engine: Engine
    scoring: ScoringService
    access: AccessControl


async def runtime(request: Request) -> Runtime:
    """Return the app's runtime from the lifespan state."""
    value: Runtime = request.state.runtime
    return value


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def scoring(request: Request) -> ScoringService:
    """Return the scoring service."""
    return (await runtime(request)).scoring


ScoringDep = Annotated[ScoringService, Depends(scoring)]
