"""The YAML form of a feature pack, as written: its models, windows and text templates.

`features.pack` checks a pack against the spec and builds its features from these.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.spec import DISTINCT_CAP, LONGEST, Agg, Family, Stream

Kind = Literal["text", "number", "flag"]
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
WINDOW = re.compile(r"^(\d+)\s*(m|h|d)$")
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
WINDOW_TEXT = {"m": "minute", "h": "hour", "d": "day"}


def parse_window(text: str) -> timedelta:
    """Return a window written as minutes, hours or days (`30m`, `1h`, `7d`)."""
    match = WINDOW.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r} is not a whole number of minutes, hours or days (7d)")
    count, unit = int(match.group(1)), UNITS[match.group(2)]
    if count > LONGEST // unit:
        raise ValueError(f"window {text!r} is longer than {LONGEST.days} days")
    return count * unit


def window_words(text: str) -> str:
    """Return a window in words for a feature's sentence (`7d`: "7 days")."""
    count, unit = WINDOW.match(text.strip()).groups()  # type: ignore[union-attr]
    return f"{count} {WINDOW_TEXT[unit]}{'' if count == '1' else 's'}"


def check_text(text: str) -> str:
    """Return a feature's sentence once it is a template of `{value}` alone."""
    try:
        text.format(value=1.0)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"text {text!r} is not a template of {{value}}: {error}") from None
    return text


def _all_history() -> list[str | None]:
    return [None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackEntity(_Strict):
    """An entity over one of the pack's text columns."""

    key: str
    description: str = Field(min_length=1)
    family: Family = "order"


class PackAggregate(_Strict):
    """One aggregate, or one per window when the name holds `{window}`."""

    name: str
    entity: str
    agg: Agg
    text: str = Field(min_length=1)
    stream: Stream = Stream.ORDERS
    of: str | None = None
    windows: list[str | None] = Field(default_factory=_all_history, min_length=1)
    cap: int = Field(DISTINCT_CAP, ge=1, le=DISTINCT_CAP)

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: list[str | None]) -> list[str | None]:
        for window in windows:
            if window is not None:
                parse_window(window)
        return windows


class PackRatio(_Strict):
    """A ratio of two features or numeric columns, NaN where the denominator is not above 0."""

    name: str
    numerator: str
    denominator: str
    text: str = Field(min_length=1)
    windows: list[str | None] = Field(default_factory=_all_history, min_length=1)
    family: Family | None = None


class PackValue(_Strict):
    """A numeric or flag column of the order used as a feature as it is."""

    column: str
    text: str = Field(min_length=1)
    text_when_false: str | None = None
    family: Family = "order"


class FeaturePack(_Strict):
    """A whole pack as written."""

    columns: dict[str, Kind] = Field(default_factory=dict)
    entities: dict[str, PackEntity] = Field(default_factory=dict)
    aggregates: list[PackAggregate] = Field(default_factory=list)
    ratios: list[PackRatio] = Field(default_factory=list)
    values: list[PackValue] = Field(default_factory=list)
