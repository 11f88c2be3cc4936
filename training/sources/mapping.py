"""The YAML mapping that says which of a user's columns holds which canonical field."""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.catalog import current
from features.pack_schema import parse_window
from features.schema import COLUMN_NAMES, REQUIRED
from features.yaml_files import read_yaml_mapping

ITEMS = "items"
ITEM_FIELDS = ("item_count", "limited_quantity", "max_item_quantity")
CANONICAL = (*COLUMN_NAMES, ITEMS)

LabelValue = str | int | float | bool


class HistoryImportError(ValueError):
    """Raised when a user's history or its mapping cannot be read as canonical orders."""


def value_keys(values: pd.Series | list[Any]) -> pd.Series:
    """Return values as comparable text: trimmed, case-folded, whole numbers without '.0'."""
    series = pd.Series(values, dtype="object") if isinstance(values, list) else values
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.map({True: "true", False: "false"}).astype("string")
    text = series.astype("string").str.strip().str.casefold()
    text = text.mask(text == "")
    number = pd.to_numeric(text, errors="coerce")
    whole = number.notna() & (number % 1 == 0) & (number.abs() < 2**53)
    text[whole] = number[whole].astype("int64").astype("string")
    return text


class LabelValues(BaseModel):
    """The values of the user's label column that mean fraud and legitimate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraud: list[LabelValue] = Field(min_length=1)
    legit: list[LabelValue] = Field(min_length=1)

    @model_validator(mode="after")
    def _disjoint(self) -> LabelValues:
        both = set(value_keys(self.fraud).dropna()) & set(value_keys(self.legit).dropna())
        if both:
            raise ValueError(f"values listed as both fraud and legit: {', '.join(sorted(both))}")
        return self

    def lookup(self) -> dict[str, int]:
        """Return the normalised label value → 1 (fraud) or 0 (legit) table."""
        fraud, legit = value_keys(self.fraud).dropna(), value_keys(self.legit).dropna()
        return dict.fromkeys(fraud, 1) | dict.fromkeys(legit, 0)


class Mapping(BaseModel):
    """How to read one user's order history as canonical orders."""

    # Numbers as column names are legal in CSV headers, so YAML `amount: 2024` is a column name.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    columns: dict[str, str]
    timestamp_format: str | None = None
    timezone: str = "UTC"
    label_known_after: str | None = Field(
        None,
        description="when the history has no label time: labels became known this long after "
        "their order (e.g. 7d), as chargebacks do after a fixed maturity",
    )
    label_values: LabelValues = LabelValues(fraud=[1, True], legit=[0, False])

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        extra = tuple(column.name for column in current().extra_columns)
        unknown = [name for name in columns if name not in (*CANONICAL, *extra)]
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(CANONICAL)}"
                + (f"; and the feature pack's: {', '.join(extra)}" if extra else "")
            )
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise ValueError(f"required field(s) not mapped: {', '.join(missing)}")
        return columns

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin"
            ) from None
        return zone

    @field_validator("label_known_after")
    @classmethod
    def _delay(cls, delay: str | None) -> str | None:
        if delay is not None:
            parse_window(delay)
        return delay

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        known = "label_known_at" in self.columns
        if "label" in self.columns and not known and self.label_known_after is None:
            raise ValueError(
                "'label' is mapped but neither 'label_known_at' nor label_known_after is: "
                "labels need the time they became known, to train without leakage"
            )
        if known and self.label_known_after is not None:
            raise ValueError("map 'label_known_at' or set label_known_after, not both")
        if self.label_known_after is not None and "label" not in self.columns:
            raise ValueError("label_known_after is set but 'label' is not mapped")
        if "label_known_at" in self.columns and "label" not in self.columns:
            raise ValueError("'label_known_at' is mapped but 'label' is not")
        clashes = [name for name in ITEM_FIELDS if name in self.columns]
        if ITEMS in self.columns and clashes:
            raise ValueError(f"map either 'items' or {', '.join(map(repr, clashes))}, not both")
        return self

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """Return the zone naive timestamps are read in."""
        return zoneinfo.ZoneInfo(self.timezone)


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping YAML file."""
    raw = read_yaml_mapping(
        path, "mapping", HistoryImportError, _Yaml12Loader, " with a 'columns' key"
    )
    try:
        return Mapping.model_validate(raw)
    except ValidationError as error:
        raise HistoryImportError(f"mapping {path.name}: {_describe(error)}") from None


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            parent = Mapping if len(problem["loc"]) == 1 else LabelValues
            allowed = ", ".join(parent.model_fields)
            parts.append(f"unknown key {where!r}; allowed: {allowed}")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class _Yaml12Loader(yaml.SafeLoader):
    """Load YAML with 1.2 booleans, so label values like `yes`/`no` stay the strings they are."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
