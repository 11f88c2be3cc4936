"""The scoring service the lifespan built, as a typed dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.scoring.service import ScoringService


async def scoring(request: Request) -> ScoringService:
    """Return the scoring service."""
    value: ScoringService = request.state.scoring
    return value


ScoringDep = Annotated[ScoringService, Depends(scoring)]
