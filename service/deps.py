"""Typed dependencies on the parts every area shares, built once by the app's lifespan.

Each area reads its own service from the lifespan state (`service.auth.deps`,
`service.scoring.deps`), so no area imports another through this module.
They are `async` because they only look things up: FastAPI would run a plain
function in its thread pool, a hop that costs more than the lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from features.online import OnlineFeatures
from service.models import ModelHolder
from service.settings import ServiceSettings


async def settings(request: Request) -> ServiceSettings:
    """Return the settings the app was built with."""
    value: ServiceSettings = request.state.settings
    return value


async def engine(request: Request) -> Engine:
    """Return the database engine."""
    value: Engine = request.state.engine
    return value


async def model(request: Request) -> ModelHolder:
    """Return the holder of the serving model."""
    value: ModelHolder = request.state.model
    return value


async def features(request: Request) -> OnlineFeatures:
    """Return the online features."""
    value: OnlineFeatures = request.state.features
    return value


SettingsDep = Annotated[ServiceSettings, Depends(settings)]
EngineDep = Annotated[Engine, Depends(engine)]
ModelDep = Annotated[ModelHolder, Depends(model)]
FeaturesDep = Annotated[OnlineFeatures, Depends(features)]
