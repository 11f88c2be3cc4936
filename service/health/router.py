"""/healthz (the process answers) and /readyz (what each dependency answers, within 100 ms)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from service.auth.guards import PUBLIC
from service.deps import ModelDep, SettingsDep
from service.health.probe import Probes

router = APIRouter(tags=["health"], dependencies=[Depends(PUBLIC)])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answer while the process is alive (liveness only: no dependency is asked)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, model: ModelDep, settings: SettingsDep) -> JSONResponse:
    """Report the model, the database and the online store; 503 when orders cannot be decided.

    `ready`: all usable. `degraded`: only the online store is out (or lost its
    state), so orders are still decided under the fail policy; 200 unless
    `ready_when_degraded` is off. `not_ready`: no model or no database.
    """
    probes: Probes = request.state.probes
    found = await probes.check()
    scorer = model.current
    checks = {"model": scorer is not None, **{name: c.ok for name, c in found.items()}}
    if not (checks["model"] and checks["database"]):
        status = "not_ready"
    else:
        status = "ready" if checks["feature_store"] else "degraded"
    serving = status == "ready" or (status == "degraded" and settings.ready_when_degraded)
    body = {
        "status": status,
        "checks": checks,
        "details": {
            name: {"detail": c.detail, "age_ms": round(c.age_ms(), 1)} for name, c in found.items()
        },
        "fail_policy": settings.fail_policy,
        "model": {"name": scorer.name, "version": scorer.version} if scorer else None,
    }
    return JSONResponse(body, status_code=200 if serving else 503)
