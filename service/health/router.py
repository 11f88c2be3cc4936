"""/healthz (the process answers) and /readyz (model, feature store and database reachable)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from service.auth.guards import PUBLIC
from service.blocking import in_thread
from service.deps import EngineDep, FeaturesDep, ModelDep
from service.persistence import ping

router = APIRouter(tags=["health"], dependencies=[Depends(PUBLIC)])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answer while the process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(model: ModelDep, features: FeaturesDep, engine: EngineDep) -> JSONResponse:
    """Answer 200 only when the model, the online store and the database are usable."""
    scorer = model.current
    checks = {
        "model": scorer is not None,
        "feature_store": await in_thread(features.ping),
        "database": await in_thread(ping, engine),
    }
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "model": {"name": scorer.name, "version": scorer.version} if scorer else None,
    }
    return JSONResponse(body, status_code=200 if ready else 503)
