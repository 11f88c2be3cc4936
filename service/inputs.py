"""The rules every request input follows, in one place: plain text, and times in a sane range.

Text: no control character (C0, DEL, C1) in any string of any request body,
path or query: no identifier, code or name holds one, and NUL is no
PostgreSQL text. A field a model lists in `multiline` (a reviewer's note) may
hold tabs and line breaks. (A lone surrogate, which is no UTF-8, pydantic
refuses in every string already.)

Times: an ISO 8601 date-time with its zone (a number is no time), refused
with the field named when outside the range the app sets per request from its
settings (`earliest_event_time` to now plus `max_clock_skew_seconds`).

A stored request validated again later (replays, feature updates) is validated
with the context `STORED`: the text rule and the range held when it came, and
are not applied again to data that may predate them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from starlette.types import ASGIApp, Receive, Scope, Send

from service.settings import ServiceSettings

# C0 controls, DEL and C1 controls: never part of an id, and NUL is no PostgreSQL text.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# In multi-line text: the same, less tab, line feed and carriage return.
CONTROL_IN_NOTE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NO_CONTROL = "must not contain control characters"
# The text rule as a pattern, for path and query parameters and for the OpenAPI schema.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f-\x9f]*$"
PLAIN_NOTE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
# Date, time with at least minutes, optional seconds and fraction, and a zone.
ISO_WITH_ZONE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)"
)
NOT_ISO = "must be an ISO 8601 date-time with a time zone, such as 2026-03-01T12:00:00Z"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_SKEW = timedelta(minutes=5)
STORED: dict[str, Any] = {"stored": True}


def _stored(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get("stored"))


def has_control(text: str, multiline: bool = False) -> bool:
    """Return whether a text holds a control character (NUL, newline, DEL, ...)."""
    return (CONTROL_IN_NOTE if multiline else CONTROL).search(text) is not None


@dataclass(frozen=True)
class TimeBounds:
    """The range a request's times must fall in: `earliest` to now plus `skew`."""

    earliest: datetime = DEFAULT_EARLIEST
    skew: timedelta = DEFAULT_SKEW

    def latest(self) -> datetime:
        """Return the latest time a request may name now."""
        return datetime.now(UTC) + self.skew


def time_bounds(settings: ServiceSettings) -> TimeBounds:
    """Return the bounds the settings give a request's times."""
    return TimeBounds(
        settings.earliest_event_time.astimezone(UTC),
        timedelta(seconds=settings.max_clock_skew_seconds),
    )


_bounds: ContextVar[TimeBounds | None] = ContextVar("time_bounds", default=None)


@contextmanager
def bounded(bounds: TimeBounds | None) -> Iterator[None]:
    """Hold the times validated inside the block to `bounds` (None: to none)."""
    token = _bounds.set(bounds)
    try:
        yield
    finally:
        _bounds.reset(token)


class RequestTimeBounds:
    """ASGI middleware: each request's times are held to the app's bounds while it is read."""

    def __init__(self, app: ASGIApp, bounds: TimeBounds) -> None:
        self.app = app
        self.bounds = bounds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with the bounds set."""
        with bounded(self.bounds):
            await self.app(scope, receive, send)


def _iso_text(value: Any) -> Any:
    """Take an ISO 8601 text with its zone (or a datetime built in Python); refuse numbers."""
    if isinstance(value, datetime) or (
        isinstance(value, str) and ISO_WITH_ZONE.fullmatch(value.strip())
    ):
        return value
    raise PydanticCustomError("iso_datetime", NOT_ISO)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 at +14:00 has no UTC form
        raise PydanticCustomError("time_range", "is outside the calendar once in UTC") from None


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _event_time(value: datetime, info: ValidationInfo) -> datetime:
    """Refuse a time before the earliest event time or after now plus the clock skew."""
    utc, bounds = _utc(value), None if _stored(info) else _bounds.get()
    if bounds is not None and not bounds.earliest <= utc <= bounds.latest():
        raise PydanticCustomError(
            "time_range",
            "must be between {earliest} and {skew} seconds from now (UTC)",
            {"earliest": _when(bounds.earliest), "skew": f"{bounds.skew.total_seconds():g}"},
        )
    return value


def _past_time(value: datetime, info: ValidationInfo) -> datetime:
    """Refuse a time before 1970 or after now plus the clock skew."""
    utc, bounds = _utc(value), None if _stored(info) else _bounds.get()
    if bounds is not None and not UNIX_EPOCH <= utc <= bounds.latest():
        raise PydanticCustomError(
            "time_range",
            "must be between 1970-01-01T00:00:00Z and {skew} seconds from now (UTC)",
            {"skew": f"{bounds.skew.total_seconds():g}"},
        )
    return value


_ISO = BeforeValidator(_iso_text)
# When something happened: an order's creation, a decline, a label becoming known.
EventTime = Annotated[AwareDatetime, _ISO, AfterValidator(_event_time)]
# A time that may predate the service's events (an account's creation), not the epoch.
PastTime = Annotated[AwareDatetime, _ISO, AfterValidator(_past_time)]


def _canonical(value: Any) -> Any:
    """Return a value in the form its hash reads: times in UTC, decimals without trailing zeros."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _document(schema: Any, pattern: str) -> None:
    """Add the text rule's pattern to every free string of a JSON schema node."""
    if not isinstance(schema, dict):
        return
    free = not any(key in schema for key in ("pattern", "enum", "const", "format", "$ref"))
    if schema.get("type") == "string" and free:
        schema["pattern"] = pattern
    for branch in schema.get("anyOf", []):
        _document(branch, pattern)
    _document(schema.get("items"), pattern)


class RequestModel(BaseModel):
    """Base of every request body: the text rule on every field, and a hash of the body."""

    # Fields holding multi-line free text: tabs and line breaks allowed there.
    multiline: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse a control character in a text field (or a list of texts) before anything else."""
        if _stored(info):
            return value
        multiline = info.field_name in cls.multiline
        texts = value if isinstance(value, list) else [value]
        for index, text in enumerate(texts):
            if isinstance(text, str) and has_control(text, multiline):
                where = f"item {index} " if isinstance(value, list) else ""
                raise PydanticCustomError("plain_text", where + NO_CONTROL)
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Document the text rule on each free-text field of the schema."""
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        for name, field in resolved.get("properties", {}).items():
            _document(field, PLAIN_NOTE if name in cls.multiline else PLAIN_TEXT)
        return schema

    def sha256(self) -> str:
        """Return the SHA-256 of the validated body as canonical JSON (sorted keys).

        Times count in UTC and decimals without trailing zeros, so a retry that
        spells the same values another way is the same request.
        """
        body = _canonical(self.model_dump(mode="python"))
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
