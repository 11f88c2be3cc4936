"""Everything access control needs at run time, built once at startup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from service.auth.people import IdentitySource, PasswordIdentities
from service.auth.policy import MaskingPolicy, load_policy
from service.auth.rate_limit import RateLimits, rate_limits
from service.auth.sessions import Sessions
from service.auth.throttle import LoginThrottle
from service.settings import ServiceSettings


@dataclass(frozen=True)
class AccessControl:
    """Identities, sessions, sign-in lockout, API rate limits and the masking policy."""

    engine: Engine
    identities: IdentitySource
    sessions: Sessions
    throttle: LoginThrottle
    limits: RateLimits
    policy: MaskingPolicy


def access_control(settings: ServiceSettings, engine: Engine) -> AccessControl:
    """Build access control; an invalid masking policy stops the start here."""
    return AccessControl(
        engine=engine,
        identities=PasswordIdentities(engine),
        sessions=Sessions(
            engine,
            idle=timedelta(seconds=settings.session_idle_seconds),
            lifetime=timedelta(seconds=settings.session_max_seconds),
        ),
        throttle=LoginThrottle(
            engine, settings.login_max_failures, timedelta(seconds=settings.login_lockout_seconds)
        ),
        limits=rate_limits(settings),
        policy=load_policy(settings.masking_policy),
    )
