"""POST /v1/admin/model/reload: swap in the current champion without dropping requests."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from service.auth.guards import key_with_scope
from service.blocking import in_thread
from service.deps import ModelDep
from service.errors import API_ERRORS

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    responses=API_ERRORS,
    dependencies=[Depends(key_with_scope("admin"))],
)


class ModelStatus(BaseModel):
    name: str
    version: str
    spec_hash: str
    thresholds: dict[str, float]


@router.post("/model/reload", response_model=ModelStatus)
async def reload_model(model: ModelDep) -> ModelStatus:
    """Load the model the champion alias points to and serve it from the next request on."""
    scorer = await in_thread(model.reload)
    return ModelStatus(
        name=scorer.name,
        version=scorer.version,
        spec_hash=scorer.card.spec_hash,
        thresholds=vars(scorer.card.thresholds),
    )
