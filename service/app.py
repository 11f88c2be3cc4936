"""The FastAPI app factory: everything heavy is built once, in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from sqlalchemy import Engine

from features.online import OnlineFeatures
from features.store import open_store
from models.registry import RegistryError
from service import errors, security_headers
from service.admin.router import router as admin_router
from service.audit.changes import record_policy
from service.audit.log import CheckpointRefused, checkpoint_if_grown
from service.audit.router import router as audit_exports
from service.audit.signing import SigningKeyError
from service.auth import rate_limit
from service.auth.control import AccessControl, access_control
from service.auth.credentials import KEY_PREFIX
from service.auth.guards import unguarded_routes
from service.auth.keys import key_principal
from service.blocking import executor, in_thread
from service.body_limit import BodySizeLimit
from service.health.probe import Probes
from service.health.router import router as health_router
from service.inputs import RequestTimeBounds, time_bounds
from service.labels.router import router as labels_router
from service.models import ModelHolder
from service.orders.router import router as orders_router
from service.persistence import checkpoint, make_engine, migrate
from service.persistence.audit_log import sequence
from service.review.router import router as review_router
from service.review.service import ReviewDesk
from service.scoring.rebuild import Rebuilder
from service.scoring.router import router as scoring_router
from service.scoring.service import ScoringService
from service.scoring.warm import warm_scorer
from service.settings import ServiceSettings
from service.ui import templates
from service.ui.docs import docs_router
from service.ui.legal import router as legal_pages
from service.ui.review import router as review_pages
from service.ui.router import router as ui_router
from service.ui.sign_in import router as sign_in_router
from service.ui.static import router as static
from service.webhooks.delivery import deliver_due
from service.webhooks.router import router as webhook_pages

log = logging.getLogger(__name__)
CHECKPOINT_SECONDS = 1.0
# How often cases past their SLA are expired (and their stock moved).
EXPIRY_SECONDS = 15.0
# The collector's thresholds while serving (generation 0 allocations, then passes of 0 and 1).
GC_THRESHOLDS = (10_000, 10, 10)


class State(TypedDict):
    """The lifespan state routes read their parts from (`service.deps` and each area's deps)."""

    settings: ServiceSettings
    model: ModelHolder
    features: OnlineFeatures
    engine: Engine
    scoring: ScoringService
    access: AccessControl
    review: ReviewDesk
    probes: Probes
    rebuilder: Rebuilder


def build_state(settings: ServiceSettings) -> State:
    """Open the database, the feature store and the champion model."""
    engine = make_engine(settings.db_url)
    migrate(engine)
    access = access_control(settings, engine)
    features = OnlineFeatures(open_store(settings), settings)
    # Each champion, the first and every one a reload brings, is warmed before it serves.
    model = ModelHolder(settings, warm=warm_scorer)
    try:
        model.reload()
    except RegistryError as error:
        log.error("starting without a model: %s", error)
    scoring = ScoringService(model, features, engine, settings)
    scoring.warm_up()
    # The API key's lookup is on every order's path too: its statement compiled here.
    key_principal(engine, f"{KEY_PREFIX}warm-up")
    record_policy(engine, access.policy, "service:startup")
    return State(
        settings=settings,
        model=model,
        features=features,
        engine=engine,
        scoring=scoring,
        access=access,
        review=ReviewDesk(engine, scoring, settings),
        probes=Probes(engine, features, stale_after_s=max(3 * settings.health_probe_seconds, 1.0)),
        rebuilder=Rebuilder(settings, engine, features),
    )


def settle_collector() -> None:
    """Set the garbage collector up for serving, once the lifespan's objects are built.

    Everything built so far (model, feature registry, IP database) lives as long as
    the process: it is kept out of the collector's full passes, which would otherwise
    walk it again and again and show up as latency spikes. An order allocates
    thousands of short-lived objects, and the default thresholds (700, 10, 10) start
    a young collection every few hundred: fewer, larger passes cost less in all
    (about 8 % of an order's CPU in `benchmarks/profile_decide.py`). The older
    generations keep their default ratios, so cyclic garbage is still collected
    in full as often, counted in young passes.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _checkpoint(state: State) -> None:
    """Checkpoint the SQLite write-ahead logs (decisions, online store) off the scoring path."""
    checkpoint(state["engine"])
    state["features"].checkpoint()


def _audit_checkpoint(state: State) -> None:
    """Sign a checkpoint of a grown log, when a signing key is configured."""
    try:
        checkpoint_if_grown(state["engine"], state["settings"])
    except SigningKeyError as error:
        log.warning("no audit checkpoint: %s (create a key: `ordershield audit keygen`)", error)
    except CheckpointRefused as error:
        log.error("audit checkpoint refused: %s", error)


async def _watch(state: State) -> None:
    """Probe the dependencies (and so the online store's breaker); rebuild a lost store."""
    settings = state["settings"]
    while True:
        await asyncio.sleep(settings.health_probe_seconds)
        try:
            await state["probes"].check(budget_s=settings.health_probe_seconds)
            if settings.rebuild_features_automatically:
                state["rebuilder"].start_if_lost()
        except Exception:  # a background chore must never take the service down
            log.exception("health probe failed")


async def _every(seconds: float, work: Callable[[], object], pool: ThreadPoolExecutor) -> None:
    """Run blocking `work` on a chore thread every `seconds`, surviving its failures.

    Chores have threads of their own: one stuck on a dependency (a frozen
    database, a slow webhook endpoint) never holds a thread the scoring path needs.
    """
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(seconds)
        try:
            await loop.run_in_executor(pool, work)
        except Exception:  # a background chore must never take the service down
            log.exception("background task failed")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Return the OrderShield API."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        asyncio.get_running_loop().set_default_executor(executor(settings.threads))
        state = await in_thread(build_state, settings)
        await state["access"].limits.warm_up()
        settle_collector()
        # One thread per chore: a chore waits on its own dependency only.
        pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chore")
        chores = [
            asyncio.create_task(_watch(state)),
            asyncio.create_task(
                _every(settings.outbox_retry_seconds, state["scoring"].replay_outbox, pool)
            ),
            asyncio.create_task(
                _every(settings.model_poll_seconds, state["model"].reload_if_moved, pool)
            ),
            asyncio.create_task(_every(CHECKPOINT_SECONDS, lambda: _checkpoint(state), pool)),
            asyncio.create_task(_every(EXPIRY_SECONDS, state["review"].expire_due, pool)),
            asyncio.create_task(
                _every(
                    settings.webhook_poll_seconds,
                    functools.partial(deliver_due, state["engine"], settings),
                    pool,
                )
            ),
            asyncio.create_task(
                _every(settings.audit_checkpoint_seconds, lambda: _audit_checkpoint(state), pool)
            ),
        ]
        if settings.audit_sequence_in_server:
            sequencer = functools.partial(sequence, state["engine"])
            chores.append(
                asyncio.create_task(_every(settings.audit_sequence_seconds, sequencer, pool))
            )
        yield state
        for chore in chores:
            chore.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chore
        pool.shutdown(wait=False, cancel_futures=True)
        state["probes"].close()
        state["engine"].dispose()

    app = FastAPI(
        title="OrderShield",
        version="0.1.0",
        lifespan=lifespan,
        description="Fraud and risk scoring at order creation.",
        # FastAPI's own docs load Swagger UI from a CDN and run an inline script, and its
        # routes have no guard: `service.ui.docs` serves them instead.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    app.add_middleware(RequestTimeBounds, bounds=time_bounds(settings))
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    errors.install(app)
    templates.install(app)
    rate_limit.install(app)
    security_headers.install(app)
    routers = (
        health_router,
        scoring_router,
        orders_router,
        labels_router,
        review_router,
        admin_router,
    )
    pages = (sign_in_router, ui_router, review_pages, legal_pages, audit_exports, webhook_pages)
    for router in (*routers, *pages, docs_router(settings), static):
        app.include_router(router)
    if unguarded := unguarded_routes(app):
        raise RuntimeError(f"routes without an access guard: {', '.join(unguarded)}")
    return app
