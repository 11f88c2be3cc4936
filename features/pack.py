"""Feature packs: extra features a user declares in YAML, joining the one feature spec.

A pack names the extra columns its history carries through the mapping (text,
number or flag), entities over text columns (a terminal, a merchant), and
aggregates and ratios over canonical and extra columns. Its declarations become
the same `Entity`, `Aggregate` and `Derived` objects as the built-in ones, so
the Feast definitions, the offline and online computation, parity and
`spec_hash` cover them exactly like the rest (`features.catalog`).

    columns: {terminal_id: text}
    entities:
      terminal: {key: terminal_id, description: the payment terminal, family: payment}
    aggregates:
      - name: terminal_orders_{window}
        entity: terminal
        agg: count
        windows: [1d, 7d, 30d]
        text: this terminal took {value:.0f} orders in the last {window}
    ratios:
      - name: terminal_fraud_share_{window}
        numerator: terminal_fraud_{window}
        denominator: terminal_orders_{window}
        windows: [1d, 7d, 30d]
        text: "{value:.0%} of this terminal's orders were confirmed fraud"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from features.aggregates import AGGREGATES
from features.columns import ADDED_COLUMNS
from features.derived import DERIVED, ratio
from features.pack_schema import (
    NAME,
    FeaturePack,
    PackAggregate,
    check_text,
    parse_window,
    window_words,
)
from features.schema import COLUMN_NAMES, COLUMNS, Column
from features.spec import (
    ENTITIES,
    FAMILIES,
    Agg,
    Aggregate,
    Columns,
    Derived,
    Entity,
    Family,
    Stream,
)
from features.state import stream_plan
from features.yaml_files import read_yaml_mapping

ARROW_TYPES: Mapping[str, pa.DataType] = {
    "text": pa.string(),
    "number": pa.float64(),
    "flag": pa.bool_(),
}
VALUE_AGGS = (Agg.SUM, Agg.MEAN, Agg.MAX)


class FeaturePackError(ValueError):
    """Raised when a feature pack cannot be read: the message names the file and the entry."""


@dataclass(frozen=True)
class Pack:
    """A checked pack: its extra columns and the spec objects it adds."""

    source: str
    declared: FeaturePack
    columns: tuple[Column, ...]
    entities: tuple[Entity, ...]
    aggregates: tuple[Aggregate, ...]
    derived: tuple[Derived, ...]

    def describe(self) -> dict[str, object]:
        """Return the pack as data, for the spec hash (every declaration counts)."""
        return self.declared.model_dump(mode="json")


def load_pack(path: Path) -> Pack:
    """Read and check a feature pack; every problem is a `FeaturePackError` naming its entry."""
    raw = read_yaml_mapping(path, "feature pack", FeaturePackError)
    try:
        declared = FeaturePack.model_validate(raw)
        return _build(declared, path.name)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, p['loc']))}: {p['msg'].removeprefix('Value error, ')}"
            for p in error.errors()
        )
        raise FeaturePackError(f"feature pack {path.name}: {problems}") from None
    except ValueError as error:
        raise FeaturePackError(f"feature pack {path.name}: {error}") from None


# Canonical columns not known when an order is scored (outcomes) or not a value to aggregate.
NOT_AT_REQUEST = frozenset(
    {
        "order_id",
        "created_at",
        "label",
        "label_known_at",
        "fraud_known_at",
        "labelled_at",
        "scenario",
    }
)


def _build(declared: FeaturePack, source: str) -> Pack:
    columns = _columns(declared)
    readable = (*COLUMNS, *ADDED_COLUMNS, *columns)
    kinds = {c.name: c.type for c in readable if c.name not in NOT_AT_REQUEST}
    entities = _entities(declared, kinds)
    by_entity = {e.name: e for e in (*ENTITIES, *entities)}
    aggregates = tuple(
        a for entry in declared.aggregates for a in _aggregates(entry, by_entity, kinds)
    )
    values = _values(declared, kinds)
    derived = (*values, *_ratios(declared, kinds, aggregates))
    features = set(_builtin_names())
    columns_read = {c.name for c in readable}
    value_names = {f.name for f in values}
    for name in [f.name for f in aggregates] + [f.name for f in derived]:
        # A value feature is named after its own column; any other name must be free.
        clash = features if name in value_names else features | columns_read
        if name in clash:
            raise ValueError(
                f"feature {name!r} is declared twice, or is a built-in feature or a column"
            )
        features.add(name)
    for entity in by_entity.values():
        for stream in Stream:
            # The online state's plan refuses a column both counted distinct and summed.
            stream_plan([f for f in (*AGGREGATES, *aggregates) if f.entity == entity], stream)
    return Pack(source, declared, columns, entities, aggregates, derived)


def _builtin_names() -> list[str]:
    return [f.name for f in AGGREGATES] + [f.name for f in DERIVED]


def _columns(declared: FeaturePack) -> tuple[Column, ...]:
    out = []
    for name, kind in declared.columns.items():
        if not NAME.match(name):
            raise ValueError(f"columns.{name}: a column name is lower-case letters, digits and _")
        if name in COLUMN_NAMES or name in {c.name for c in ADDED_COLUMNS}:
            raise ValueError(f"columns.{name}: already a canonical column; map it directly")
        if name in _builtin_names():
            raise ValueError(f"columns.{name}: the name of a built-in feature")
        out.append(Column(name, ARROW_TYPES[kind], doc=f"{kind} column of the feature pack"))
    return tuple(out)


def _entities(declared: FeaturePack, kinds: Mapping[str, pa.DataType]) -> tuple[Entity, ...]:
    out = []
    builtin = {e.name for e in ENTITIES}
    for name, entity in declared.entities.items():
        if not NAME.match(name) or name in builtin:
            raise ValueError(f"entities.{name}: not a new entity name (lower-case, not built-in)")
        if kinds.get(entity.key) != pa.string():
            raise ValueError(f"entities.{name}.key: {entity.key!r} is not a text column")
        out.append(Entity(name, entity.key, entity.description, entity.family))
    return tuple(out)


def _expand(name: str, text: str, window: str | None) -> tuple[str, str]:
    if window is None:
        if "{window}" in name:
            raise ValueError(f"{name!r} holds {{window}} but no windows are listed")
        return name, check_text(text)
    if "{window}" not in name:
        raise ValueError(f"{name!r} lists windows: put {{window}} in its name")
    expanded = name.replace("{window}", window.strip())
    if not NAME.match(expanded):
        raise ValueError(f"feature name {expanded!r} is not lower-case letters, digits and _")
    return expanded, check_text(text.replace("{window}", window_words(window)))


def _aggregates(
    entry: PackAggregate, entities: Mapping[str, Entity], kinds: Mapping[str, pa.DataType]
) -> list[Aggregate]:
    where = f"aggregate {entry.name!r}"
    if entry.entity not in entities:
        raise ValueError(f"{where}: unknown entity {entry.entity!r}; known: {', '.join(entities)}")
    needs_value = entry.agg in (Agg.DISTINCT, *VALUE_AGGS)
    if needs_value != (entry.of is not None):
        raise ValueError(
            f"{where}: {entry.agg.value} {'needs' if needs_value else 'takes no'} 'of'"
        )
    if entry.of is not None:
        kind = kinds.get(entry.of)
        if kind is None:
            raise ValueError(f"{where}: 'of' names no column: {entry.of!r}")
        if entry.agg in VALUE_AGGS and kind == pa.string():
            raise ValueError(f"{where}: {entry.agg.value} needs a numeric column, not {entry.of!r}")
    out = []
    for window in entry.windows:
        name, text = _expand(entry.name, entry.text, window)
        length = None if window is None else parse_window(window)
        out.append(
            Aggregate(
                name,
                entities[entry.entity],
                entry.agg,
                text,
                window=length,
                stream=entry.stream,
                of=entry.of,
                cap=entry.cap,
            )
        )
    return out


def _values(declared: FeaturePack, kinds: Mapping[str, pa.DataType]) -> list[Derived]:
    out = []
    for entry in declared.values:
        kind = kinds.get(entry.column)
        if kind is None or kind == pa.string():
            raise ValueError(f"value {entry.column!r}: not a number or flag column")
        column = entry.column
        out.append(
            Derived(
                column,
                (column,),
                _operand(column),
                check_text(entry.text),
                None if entry.text_when_false is None else check_text(entry.text_when_false),
                family=entry.family,
            )
        )
    return out


def _operand(name: str) -> Callable[[Columns], np.ndarray]:
    """Return how a ratio reads an operand: a request-time feature by its own computation.

    So `amount` is the feature (the reporting currency), never the column of the same
    name (the order's own currency), whatever order the model computes features in.
    """
    feature = next((f for f in DERIVED if f.name == name), None)
    if feature is not None:
        return feature.compute
    return lambda c: np.asarray(c[name], dtype=float)


def _ratio_of(numerator: str, denominator: str) -> Callable[[Columns], np.ndarray]:
    top_of, bottom_of = _operand(numerator), _operand(denominator)

    def compute(c: Columns) -> np.ndarray:
        return ratio(np.asarray(top_of(c), dtype=float), np.asarray(bottom_of(c), dtype=float))

    return compute


def _ratios(
    declared: FeaturePack, kinds: Mapping[str, pa.DataType], aggregates: tuple[Aggregate, ...]
) -> list[Derived]:
    families: dict[str, Family] = {f.name: f.family for f in (*AGGREGATES, *aggregates)}
    families |= {f.name: f.family for f in DERIVED}
    numbers = {n for n, k in kinds.items() if k != pa.string()}
    out = []
    for entry in declared.ratios:
        for window in entry.windows:
            name, text = _expand(entry.name, entry.text, window)
            operands = []
            for side in (entry.numerator, entry.denominator):
                operand = side if window is None else side.replace("{window}", window.strip())
                if operand not in families and operand not in numbers:
                    raise ValueError(f"ratio {name!r}: {operand!r} is no feature or numeric column")
                operands.append(operand)
            family = entry.family or families.get(operands[0], "order")
            assert family in FAMILIES
            out.append(Derived(name, tuple(operands), _ratio_of(*operands), text, family=family))
    return out
