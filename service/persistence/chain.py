"""The bytes the audit log commits to: canonical JSON, entries, decisions, personal data.

Pure functions, no SQL: the repositories use them to append and to verify, and
an exported evidence bundle is checked with them offline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from service.persistence.errors import InvalidRecord
from service.persistence.records import NewDecision

# Keys that are not strings become strings, as they would through a JSON column;
# times and dataclasses are refused, as `json` refuses them, not turned into text.
JSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_SERIALIZE_NUMPY
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
JSON_FIELDS = ("order_payload", "features", "reasons", "shap_values", "thresholds", "rules")
ROUND_TRIP_FIELDS = tuple(f for f in JSON_FIELDS if f not in ("features", "shap_values"))
FLOAT_FIELDS = ("score", "raw_score", "base_value", "latency_ms")
TIME_FIELDS = ("created_at", "decided_at")
# Decision columns added after the audit log began: left out of the committed content
# while null, so a decision stored before them hashes as it did when it was logged.
LATER_DECISION_FIELDS = ("request_sha256",)


def canonical_json(value: Any) -> str:
    """Dump JSON with sorted keys, no whitespace and shortest round-trip floats."""
    try:
        return orjson.dumps(value, option=JSON_OPTIONS | orjson.OPT_SORT_KEYS).decode()
    except TypeError as exc:
        raise InvalidRecord(f"not storable as JSON: {exc}") from exc


def dump_json(value: Any) -> str:
    """Dump JSON as the database's JSON columns store it."""
    return orjson.dumps(value, option=JSON_OPTIONS).decode()


def _refuse_non_finite(value: Any) -> None:
    # orjson writes NaN and infinity as null, which would change the value unseen.
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord(f"not storable as JSON: {value!r} is not a finite number")
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_non_finite(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_non_finite(item)


ENTRY_FIELDS = ("seq", "kind", "subject", "actor", "at", "body")


def timestamp(moment: datetime) -> str:
    """Return a time as the log writes it: ISO 8601 in UTC with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """Return the bytes of one audit-log entry that its Merkle leaf hashes.

    `at` may be a datetime or its `timestamp` text; the other fields are JSON.
    """
    content = {name: entry[name] for name in ENTRY_FIELDS}
    if isinstance(content["at"], datetime):
        content["at"] = timestamp(content["at"])
    return canonical_json(content).encode()


def content_hash(fields: Mapping[str, Any]) -> str:
    """Return sha256 hex of the canonical JSON of a record's fields (times as `timestamp`)."""
    content = {
        name: timestamp(value) if isinstance(value, datetime) else value
        for name, value in fields.items()
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def committed(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Return a decision's fields as its log entry commits to them (see `LATER_DECISION_FIELDS`)."""
    return {
        name: value
        for name, value in fields.items()
        if not (name in LATER_DECISION_FIELDS and value is None)
    }


def commitment(salt: str, value: Any) -> str:
    """Return the salted hash that stands in the chained bytes for one personal value.

    `salt` is exactly 32 lowercase hex digits (16 bytes), or a `ValueError`:
    with a salt of any length, the salt's last bytes could be read as the
    value's first (a salt ending in '2d', '-', and 2.35 hash as -2.35), and
    `bytes.fromhex` would take other spellings of one salt. Erasing the salt
    with the value leaves a hash nobody can test guesses against, and the
    entry that holds it still verifies.
    """
    if not (
        isinstance(salt, str) and len(salt) == 32 and all(c in "0123456789abcdef" for c in salt)
    ):
        raise ValueError("a salt must be exactly 32 lowercase hex digits")
    return hashlib.sha256(bytes.fromhex(salt) + canonical_json(value).encode()).hexdigest()


def normalize(new: NewDecision) -> dict[str, Any]:
    """Return the decision's fields exactly as they will read back from the database.

    Hashing the read-back form is what lets `verify_chain` recompute the hash:
    ints in float columns become floats, tuples in JSON become lists, times
    become UTC, and a NaN feature (LightGBM's "missing") becomes null.
    """
    # A shallow copy: the JSON fields are copied below by their round trip.
    fields = {field.name: getattr(new, field.name) for field in dataclasses.fields(new)}
    if not isinstance(new.order_id, str) or not new.order_id:
        raise InvalidRecord("order_id must be a non-empty string")
    for name in TIME_FIELDS:
        fields[name] = utc(fields[name], name)
    for name in FLOAT_FIELDS:
        fields[name] = finite(fields[name], name)
    # Features and SHAP values come out of these as JSON reads them back (string keys,
    # finite floats or null): unlike the other JSON fields, they need no round trip.
    fields["features"] = {str(k): feature(v, str(k)) for k, v in new.features.items()}
    fields["shap_values"] = {str(k): _shap(k, v) for k, v in new.shap_values.items()}
    fields["freeze"] = bool(new.freeze)
    fields["degraded"] = bool(new.degraded)
    for name in ROUND_TRIP_FIELDS:
        fields[name] = json_round_trip(fields[name])
    return fields


def _shap(name: object, value: Any) -> float:
    # A plain finite float, the usual case, skips building the error message's name.
    if type(value) is float and math.isfinite(value):
        return value + 0.0
    return finite(value, f"SHAP value {name}")


def json_round_trip(value: Any) -> Any:
    """Return the value as it reads back from a JSON column (tuples become lists, and so on).

    NaN and infinity are refused: JSON cannot hold them.
    """
    _refuse_non_finite(value)
    return orjson.loads(canonical_json(value))


def utc(value: datetime, name: str) -> datetime:
    """Return an aware time in UTC; refuse a naive one, whose zone would be a guess."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRecord(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def feature(value: Any, name: str) -> float | None:
    """Return a feature value as a finite float, or None when missing (None or NaN)."""
    if value is None:
        return None
    if type(value) is float and math.isfinite(value):
        return value + 0.0
    number = _number(value, f"feature {name}")
    return None if math.isnan(number) else finite(number, f"feature {name}")


def finite(value: Any, name: str) -> float:
    """Return the value as a finite float."""
    number = _number(value, name)
    if not math.isfinite(number):
        raise InvalidRecord(f"{name} must be finite, got {number!r}")
    # SQLite stores an integral REAL as an integer, which turns -0.0 into 0.0 on the way back.
    return number + 0.0


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"{name} must be a number, got {value!r}") from exc
