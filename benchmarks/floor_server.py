"""A server that answers the scoring call with a fixed decision: the floor under the real one.

Run by `floor.py` (`python benchmarks/floor_server.py --rung RUNG --port PORT`).
It is served as the service is (`service.http_server.config`: httptools with
the read deadline, the connection limit, uvloop), with the service's own
middleware (request time bounds, body size limit, security headers), its
thread pool and its garbage-collector settings, and its scoring route does one
rung of what the real route does before any feature, model or decision:

- `http`: reads the body as bytes and answers;
- `validated`: validates the body as an `Order`, through FastAPI, as the real route does;
- `threaded`: that, then one hop to the thread pool and back, as the real route scores there;
- `keyed`: that, after the API key is looked up in a thread (SQLite), as the real guard does.

Left out: the bearer-scheme dependency, the rate limit's count and the scoring
dependency. Every rung answers the same decision-sized JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import uvicorn
from fastapi import FastAPI, Header, Request, Response

from service import security_headers
from service.app import settle_collector
from service.auth.keys import create_key, key_principal
from service.blocking import executor, in_thread
from service.body_limit import BodySizeLimit
from service.http_server import config
from service.inputs import RequestTimeBounds, time_bounds
from service.persistence import make_engine
from service.persistence.db import migrate
from service.scoring.schemas import Order
from service.settings import ServiceSettings

RUNGS = ("http", "validated", "threaded", "keyed")
SCORE_PATH = "/v1/orders/score"
# The shape and size of a real answer: five reasons, a frozen stock, the model.
ANSWER = orjson.dumps(
    {
        "order_id": "floor",
        "decision_id": "0" * 32,
        "score": 0.5,
        "tier": "high",
        "action": "review",
        "stock": {"freeze": True, "reason": "high risk", "state": "frozen", "history": []},
        "reasons": [
            {"feature": f"feature_{i}", "value": 1.0, "contribution": 0.1, "text": "x" * 60}
            for i in range(5)
        ],
        "rules": [],
        "model": {"name": "ordershield", "version": "1"},
        "feature_spec": {"hash": "0" * 64},
        "degraded": False,
        "degraded_parts": [],
        "fail_policy": None,
        "latency_ms": 0.0,
        "decided_at": "2026-01-01T00:00:00+00:00",
    }
)


def _nothing() -> None:
    return None


def floor_app(rung: str, settings: ServiceSettings) -> FastAPI:
    """Return an app whose scoring route does `rung` and answers the fixed decision."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        asyncio.get_running_loop().set_default_executor(executor(settings.threads))
        settle_collector()
        yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(RequestTimeBounds, bounds=time_bounds(settings))
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    security_headers.install(app)

    @app.get("/readyz")
    async def ready(request: Request) -> dict[str, str]:
        """Answer once serving, with the API key a keyed rung takes."""
        return {"status": "ready", "token": getattr(request.app.state, "token", "")}

    if rung == "http":

        @app.post(SCORE_PATH)
        async def read_only(request: Request) -> Response:
            await request.body()
            return Response(ANSWER, media_type="application/json")

    elif rung == "keyed":
        engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/floor.db")
        migrate(engine)
        app.state.token = create_key(engine, "floor", ["score"])[1]

        @app.post(SCORE_PATH)
        async def keyed(order: Order, authorization: str = Header()) -> Response:
            token = authorization.removeprefix("Bearer ")
            if await in_thread(key_principal, engine, token) is None:
                return Response(status_code=401)
            await in_thread(_nothing)
            return Response(ANSWER, media_type="application/json")

    else:
        hop = rung == "threaded"

        @app.post(SCORE_PATH)
        async def validated(order: Order) -> Response:
            if hop:
                await in_thread(_nothing)
            return Response(ANSWER, media_type="application/json")

    return app


def main() -> None:
    """Serve one rung until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rung", choices=RUNGS, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = ServiceSettings()
    app = floor_app(args.rung, settings)
    uvicorn.Server(config(settings, "127.0.0.1", args.port, "warning", app)).run()


if __name__ == "__main__":
    main()
