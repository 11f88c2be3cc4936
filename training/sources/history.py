"""Import a user's own labelled order history as canonical orders.

A mapping YAML names the user's column for each canonical field (see `training.sources.mapping`).
Every value is checked on the way in, and an error names the user's column, the field it
is mapped to and the row: rows count data rows from 1, so row 17 is line 18 of a CSV.
Fields the mapping leaves out stay null; nothing is guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.catalog import current
from features.codes import CODED_COLUMNS, as_taken
from features.pack_schema import parse_window
from features.schema import COLUMNS, TIMESTAMP, Column, conform
from training.sources.baskets import item_counts
from training.sources.mapping import (
    ITEM_FIELDS,
    ITEMS,
    HistoryImportError,
    Mapping,
    load_mapping,
    value_keys,
)
from training.sources.user_column import UserColumn, text_of

__all__ = ["CSV_OPTIONS", "HistoryImportError", "file_kind", "load_history", "parse_orders"]

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_BOOLEANS = {"true": True, "t": True, "yes": True, "y": True, "1": True}
_BOOLEANS |= {"false": False, "f": False, "no": False, "n": False, "0": False}
_RANGES = {"amount": (0.0, np.inf), "shipping_lat": (-90.0, 90.0), "shipping_lon": (-180, 180)}
_INT32_MAX = 2**31 - 1
# An ISO 8601 time followed by a UTC offset; strings without one are local to the mapping's zone.
_OFFSET = r"[T ]\d{2}.*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
# How CSV cells are read: everything as text so values are parsed, and rejected, by the
# rules below; only an empty cell is missing ("NA" may be somebody's id).
CSV_OPTIONS: dict[str, Any] = {
    "dtype": str,
    "keep_default_na": False,
    "na_values": [""],
    "encoding": "utf-8-sig",
}


def load_history(data_path: Path, mapping_path: Path) -> pd.DataFrame:
    """Read a user's order history (CSV or parquet) as canonical orders, as its mapping says."""
    mapping = load_mapping(Path(mapping_path))
    raw = _read(Path(data_path), mapping.columns)
    return conform(parse_orders(raw, mapping), current().extra_columns)


def _column(field: str) -> Column:
    """Return the canonical (or feature pack) column a field is read as."""
    return next(c for c in (*COLUMNS, *current().extra_columns) if c.name == field)


def parse_orders(raw: pd.DataFrame, mapping: Mapping, first_row: int = 0) -> pd.DataFrame:
    """Return the user's rows as checked canonical fields, in the file's order (not conformed).

    `first_row` counts the file's data rows before `raw`, so that errors name the file's row.
    """
    inputs = {
        field: UserColumn(field, name, raw[name], first_row)
        for field, name in mapping.columns.items()
    }
    frame = pd.DataFrame(index=raw.index)
    for field, column in inputs.items():
        if field == ITEMS:
            frame[list(ITEM_FIELDS)] = item_counts(column)
            continue
        frame[field] = _parse(column, mapping)
        if _column(field).required:
            column.reject(frame[field].isna(), f"is empty, but {field} is required")
    _check_unique(frame["order_id"], inputs["order_id"])
    if "label" in inputs and mapping.label_known_after is not None:
        delay = pd.Timedelta(parse_window(mapping.label_known_after))
        try:
            known = frame["created_at"] + delay
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            raise HistoryImportError(
                f"label_known_after {mapping.label_known_after} puts labels past the year 2262"
            ) from None
        frame["label_known_at"] = known.where(frame["label"].notna())
    elif "label" in inputs:
        frame["label_known_at"] = _label_times(frame, inputs["label_known_at"])
    return frame


def _read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    kind = file_kind(path, columns)
    wanted = sorted(set(columns.values()))
    try:
        if kind == "parquet":
            return pd.read_parquet(path, columns=wanted).reset_index(drop=True)
        frame: pd.DataFrame = pd.read_csv(path, usecols=wanted, **CSV_OPTIONS)
        return frame
    except (OSError, ValueError, pa.ArrowException) as error:
        raise HistoryImportError(f"cannot read {path.name}: {error}") from None


def file_kind(path: Path, columns: dict[str, str]) -> str:
    """Return `csv` or `parquet` once the file is found readable with every mapped column."""
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise HistoryImportError(
            f"cannot read {path.name}: unsupported file type {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(_SUFFIXES)}"
        )
    if not path.is_file():
        raise HistoryImportError(f"history file not found: {path}")
    try:
        if kind == "csv":
            present = list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
        else:
            present = pq.read_schema(path).names
    except (OSError, ValueError, pa.ArrowException) as error:
        raise HistoryImportError(f"cannot read {path.name}: {error}") from None
    missing = [
        f"{name!r} (mapped to {field})" for field, name in columns.items() if name not in present
    ]
    if missing:
        raise HistoryImportError(
            f"column {', '.join(missing)} not in {path.name}; "
            f"its columns are: {', '.join(map(repr, present))}"
        )
    return kind


def _parse(column: UserColumn, mapping: Mapping) -> pd.Series:
    kind = _column(column.field).type
    if column.field == "label":
        return _labels(column, mapping)
    if kind == TIMESTAMP:
        return _timestamps(column, mapping)
    if column.field in CODED_COLUMNS:
        return _codes(column)
    if pa.types.is_boolean(kind):
        return _booleans(column)
    if pa.types.is_integer(kind):
        return _counts(column)
    if pa.types.is_floating(kind):
        return _numbers(column)
    return text_of(column.values)


def _codes(column: UserColumn) -> pd.Series:
    """Return a coded column (country, currency, time zone) as the scoring API would take it."""
    text = text_of(column.values)
    taken = {code: as_taken(column.field, code) for code in text.dropna().unique()}
    _, meaning = CODED_COLUMNS[column.field]
    column.reject(
        text.isin([c for c, t in taken.items() if t is None]), f"{{value}} is not {meaning}"
    )
    return text.map(taken, na_action="ignore").astype("string")


def _numbers(column: UserColumn) -> pd.Series:
    values = column.values
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        number = values.astype("float64")
    else:
        text = text_of(values)
        number = pd.to_numeric(text, errors="coerce").astype("float64")
        column.reject(text.notna() & number.isna(), "cannot parse {value} as a number")
    column.reject(number.abs() == np.inf, "{value} is not a finite number")
    low, high = _RANGES.get(column.field, (-np.inf, np.inf))
    limits = f"at least {low:g}" if high == np.inf else f"between {low:g} and {high:g}"
    out_of_range = (number < low) | (number > high)
    column.reject(out_of_range, f"{column.field} must be {limits}, got " + "{value}")
    return number


def _counts(column: UserColumn) -> pd.Series:
    number = _numbers(column)
    column.reject(number.notna() & (number % 1 != 0), "{value} is not a whole number")
    column.reject((number < 0) | (number > _INT32_MAX), "{value} is not a count")
    return number.astype("Int32")


def _booleans(column: UserColumn) -> pd.Series:
    if pd.api.types.is_bool_dtype(column.values.dtype):
        return column.values.astype("boolean")
    keys = value_keys(column.values)
    flags = keys.map(_BOOLEANS)
    column.reject(keys.notna() & flags.isna(), "cannot read {value} as true or false")
    return flags.astype("boolean")


def _labels(column: UserColumn, mapping: Mapping) -> pd.Series:
    lookup = mapping.label_values.lookup()
    keys = value_keys(column.values)
    labels = keys.map(lookup)
    known = {
        name: ", ".join(k for k, v in lookup.items() if v == label)
        for name, label in (("fraud", 1), ("legit", 0))
    }
    problem = f"unknown label value {{value}}; fraud: {known['fraud']}; legit: {known['legit']}"
    column.reject(keys.notna() & labels.isna(), problem)
    return labels.astype("Int8")


def _timestamps(column: UserColumn, mapping: Mapping) -> pd.Series:
    values = column.values
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        utc: pd.Series = _localise(values, mapping).dt.tz_convert("UTC")
        return utc
    text = text_of(values)
    fmt = mapping.timestamp_format
    if fmt is None:
        aware = text.str.contains(_OFFSET, regex=True).fillna(False).astype(bool)
    else:
        aware = pd.Series("%z" in fmt or "%Z" in fmt, index=text.index)
    naive = text.notna() & ~aware
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        parsed[aware] = pd.to_datetime(
            text[aware], format=fmt or "ISO8601", utc=True, errors="coerce"
        )
    if naive.any():
        local = pd.to_datetime(text[naive], format=fmt or "ISO8601", errors="coerce")
        parsed[naive] = _localise(local, mapping).dt.tz_convert("UTC")
    column.reject(text.notna() & parsed.isna(), "cannot parse {value} as a timestamp")
    return parsed


def _localise(stamps: pd.Series, mapping: Mapping) -> pd.Series:
    if stamps.dt.tz is not None:
        return stamps
    # A wall-clock time in the repeated autumn hour is read as its first occurrence and one
    # in the skipped spring hour as the hour after: an hour off is harmless to fraud features,
    # refusing every local-time export twice a year is not.
    localised: pd.Series = stamps.dt.tz_localize(
        mapping.zone, ambiguous=np.ones(len(stamps), dtype=bool), nonexistent="shift_forward"
    )
    return localised


def _check_unique(ids: pd.Series, column: UserColumn) -> None:
    repeated = ids.duplicated().to_numpy()
    if repeated.any():
        second = int(repeated.argmax())
        first = int((ids == ids.iloc[second]).to_numpy().argmax())
        raise column.error(
            second,
            f"order id {ids.iloc[second]!r} already appears in row {column.first_row + first + 1}",
        )


def _label_times(frame: pd.DataFrame, column: UserColumn) -> pd.Series:
    labelled = frame["label"].notna()
    known_at, created_at = frame["label_known_at"], frame["created_at"]
    column.reject(
        labelled & known_at.isna(),
        "is empty, but the row has a label: labels need the time they became known",
    )
    early = (labelled & (known_at < created_at)).to_numpy()
    if early.any():
        row = int(early.argmax())
        raise column.error(
            row,
            f"label known at {known_at.iloc[row]:%Y-%m-%d %H:%M:%S} UTC, before the order "
            f"was created at {created_at.iloc[row]:%Y-%m-%d %H:%M:%S} UTC",
        )
    # A time without a label says nothing; keeping it would fake a known outcome.
    return known_at.mask(~labelled)
