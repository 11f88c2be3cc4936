"""Importing a user's own labelled order history."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
import yaml
from pandas.api.typing import NAType

from features.schema import COLUMN_NAMES
from training.sources.history import HistoryImportError, load_history

# The export files live with the other training data, shared with tests/trained.py.
DATA = Path(__file__).parents[1] / "data"
SMALL_CSV = DATA / "small_history.csv"
SMALL_PARQUET = DATA / "small_history.parquet"
SMALL_MAPPING = DATA / "small_history_mapping.yaml"


def utc(text: str) -> pd.Timestamp:
    """Return a UTC timestamp."""
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """Return the small CSV history, indexed by order id."""
    return load_history(SMALL_CSV, SMALL_MAPPING).set_index("order_id", drop=False)


def write_csv(tmp_path: Path, edit: Callable[[pd.DataFrame], Any]) -> Path:
    """Write a copy of the small CSV after `edit` changed it; rows are 0-based here."""
    frame = pd.read_csv(SMALL_CSV, dtype=str, keep_default_na=False)
    edit(frame)
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    return path


def write_mapping(tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """Write a copy of the small mapping after `edit` changed it."""
    mapping = yaml.safe_load(SMALL_MAPPING.read_text())
    # PyYAML reads the bare `no` as false (YAML 1.1); the import itself reads YAML 1.2.
    mapping["label_values"]["legit"] = ["ok", "no"]
    edit(mapping)
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_csv_loads_as_canonical_orders(small: pd.DataFrame) -> None:
    assert list(small.columns) == list(COLUMN_NAMES)
    assert len(small) == 40
    assert small["created_at"].is_monotonic_increasing

    order = small.loc["ORD-24004"]
    assert order["amount"] == pytest.approx(436.90)
    assert order["customer_id"] == "acc-1002"
    assert order["device_id"] == "fp-22be"
    assert order["currency"] == "EUR"
    # A naive local time in the mapping's zone (Berlin, UTC+1 in early March).
    assert order["created_at"] == utc("2024-03-05 10:51:00")
    assert (order["item_count"], order["limited_quantity"], order["max_item_quantity"]) == (3, 2, 2)
    # "No" is a legit value: YAML's bare `no` in the mapping stays a string.
    assert order["label"] == 0
    assert order["label_known_at"] == utc("2024-03-19 05:00:00")


def test_timestamps_with_an_offset_keep_it(small: pd.DataFrame) -> None:
    assert small.loc["ORD-24010", "created_at"] == utc("2024-03-07 10:05:00")
    assert small.loc["ORD-24015", "created_at"] == utc("2024-03-09 15:40:00")
    # Naive times after the switch to summer time are UTC+2.
    assert small.loc["ORD-24026", "label_known_at"] == utc("2024-04-02 07:30:00")


def test_labels_are_read_from_the_users_values(small: pd.DataFrame) -> None:
    burst = ["ORD-24025", "ORD-24026", "ORD-24027", "ORD-24028"]  # "chargeback" and "fraud"
    assert (small.loc[burst, "label"] == 1).all()
    assert small.loc["ORD-24031", "label"] == 1  # "Chargeback", matched without case
    assert small.loc["ORD-24027", "label_known_at"] == utc("2024-03-12 08:05:00")
    unknown = small.loc[["ORD-24037", "ORD-24038", "ORD-24039", "ORD-24040"]]
    assert unknown["label"].isna().all()
    assert unknown["label_known_at"].isna().all()
    assert small["label"].sum() == 5


def test_baskets_become_item_counts(small: pd.DataFrame) -> None:
    def counts(order_id: str) -> list[Any]:
        # One order id, so one row: a Series.
        row = cast(
            pd.Series, small.loc[order_id, ["item_count", "limited_quantity", "max_item_quantity"]]
        )
        return row.tolist()

    assert counts("ORD-24026") == [4, 4, 2]  # 2 consoles and 2 sneakers, both limited
    assert counts("ORD-24001") == [2, 0, 1]
    assert counts("ORD-24020") == [0, 0, 0]  # an empty basket: known to hold nothing
    assert pd.isna(pd.Series(counts("ORD-24019"))).all()  # no basket: unknown


def test_what_the_import_lacks_stays_absent(small: pd.DataFrame) -> None:
    assert pd.isna(cast(str | NAType, small.loc["ORD-24018", "device_id"]))
    for name in ("email", "customer_created_at", "card_bin", "shipping_country", "is_emulator"):
        assert small[name].isna().all(), name


def test_parquet_copy_loads_the_same(small: pd.DataFrame) -> None:
    from_parquet = load_history(SMALL_PARQUET, SMALL_MAPPING)
    pd.testing.assert_frame_equal(from_parquet, small.reset_index(drop=True))


def test_timestamp_format_is_used(tmp_path: Path) -> None:
    def german_dates(frame: pd.DataFrame) -> None:
        for column in ("placed_at", "outcome_at"):
            stamps = pd.to_datetime(frame[column].str[:19].replace("", None), format="ISO8601")
            frame[column] = stamps.dt.strftime("%d.%m.%Y %H:%M").fillna("")

    mapping = write_mapping(tmp_path, lambda m: m.update(timestamp_format="%d.%m.%Y %H:%M"))
    orders = load_history(write_csv(tmp_path, german_dates), mapping).set_index("order_id")
    assert orders.loc["ORD-24004", "created_at"] == utc("2024-03-05 10:51:00")

    def one_iso_date(frame: pd.DataFrame) -> None:
        german_dates(frame)
        frame.loc[20, "placed_at"] = "2024-03-10 12:40"

    message = "column 'placed_at' (mapped to created_at), row 21: cannot parse '2024-03-10 12:40'"
    with pytest.raises(HistoryImportError, match=re.escape(message)):
        load_history(write_csv(tmp_path, one_iso_date), mapping)


def test_history_for_training() -> None:
    orders = load_history(DATA / "history_mapped.parquet", DATA / "history_mapping.yaml")
    assert 5_500 <= len(orders) <= 6_500
    span = orders["created_at"].max() - orders["created_at"].min()
    assert pd.Timedelta(days=58) <= span <= pd.Timedelta(days=61)
    labelled = orders.dropna(subset=["label"])
    assert 0.02 <= labelled["label"].mean() <= 0.04
    assert (labelled["label_known_at"] >= labelled["created_at"]).all()
    assert orders["device_id"].notna().all()
    assert orders["item_count"].notna().all()
    fraud = labelled["label"] == 1
    assert labelled.loc[fraud, "amount"].median() > 3 * labelled.loc[~fraud, "amount"].median()
    for name in ("shipping_country", "billing_country", "card_bin", "card_country", "card_last4"):
        assert orders[name].isna().all(), name


def set_cell(column: str, row: int, value: str) -> Callable[[pd.DataFrame], None]:
    """Return an edit that sets one cell; `row` is the 1-based data row of the message."""

    def edit(frame: pd.DataFrame) -> None:
        frame.loc[row - 1, column] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            set_cell("placed_at", 17, "yesterday"),
            "column 'placed_at' (mapped to created_at), row 17: "
            "cannot parse 'yesterday' as a timestamp",
        ),
        (
            set_cell("order_total", 5, "-12.50"),
            "column 'order_total' (mapped to amount), row 5: amount must be at least 0, "
            "got '-12.50'",
        ),
        (
            set_cell("order_total", 6, "12,50"),
            "column 'order_total' (mapped to amount), row 6: cannot parse '12,50' as a number",
        ),
        (
            set_cell("outcome", 9, "maybe"),
            "column 'outcome' (mapped to label), row 9: unknown label value 'maybe'; "
            "fraud: chargeback, fraud; legit: ok, no",
        ),
        (
            set_cell("outcome_at", 3, "2024-03-01 06:00:00"),
            "column 'outcome_at' (mapped to label_known_at), row 3: label known at "
            "2024-03-01 05:00:00 UTC, before the order was created at 2024-03-04 17:34:00 UTC",
        ),
        (
            set_cell("outcome_at", 2, ""),
            "column 'outcome_at' (mapped to label_known_at), row 2: is empty, but the row has "
            "a label",
        ),
        (
            set_cell("order_ref", 30, "ORD-24012"),
            "column 'order_ref' (mapped to order_id), row 30: order id 'ORD-24012' already "
            "appears in row 12",
        ),
        (
            set_cell("account", 4, " "),
            "column 'account' (mapped to customer_id), row 4: is empty, but customer_id is "
            "required",
        ),
        (
            set_cell("basket", 6, '[{"sku": "CAP-BLK", "quantity": 1'),
            "column 'basket' (mapped to items), row 6: cannot parse "
            '\'[{"sku": "CAP-BLK", "quantity": 1\' as a JSON list of items',
        ),
        (
            set_cell("basket", 7, '[{"sku": "CAP-BLK", "quantity": 1}, {"sku": "TSHIRT-M"}]'),
            "column 'basket' (mapped to items), row 7: item 2 has no quantity",
        ),
        (
            set_cell("basket", 8, '[{"sku": "CAP-BLK", "quantity": "two"}]'),
            "column 'basket' (mapped to items), row 8: item 1: quantity must be a number",
        ),
        (
            set_cell("basket", 9, '[{"sku": "CAP-BLK", "quantity": 1.5}]'),
            "column 'basket' (mapped to items), row 9: item 1 quantity must be a whole number",
        ),
        (
            lambda frame: frame.drop(columns="ccy", inplace=True),
            "column 'ccy' (mapped to currency) not in history.csv; its columns are: "
            "'order_ref', 'placed_at'",
        ),
    ],
    ids=[
        "bad-timestamp",
        "negative-amount",
        "bad-number",
        "unknown-label",
        "label-before-order",
        "label-without-time",
        "duplicate-id",
        "empty-required",
        "bad-json",
        "item-without-quantity",
        "quantity-as-text",
        "fractional-quantity",
        "missing-column",
    ],
)
def test_bad_values_name_column_and_row(
    tmp_path: Path, edit: Callable[[pd.DataFrame], Any], message: str
) -> None:
    with pytest.raises(HistoryImportError, match=re.escape(message)):
        load_history(write_csv(tmp_path, edit), SMALL_MAPPING)


def with_codes(frame: pd.DataFrame) -> None:
    """Give every row a customer time zone and a shipping country, both valid."""
    frame["zone"] = "Europe/Berlin"
    frame["ship_country"] = "DE"


def coded_mapping(tmp_path: Path) -> Path:
    """Write the small mapping with the columns of `with_codes` mapped."""
    return write_mapping(
        tmp_path, lambda m: m["columns"].update(time_zone="zone", shipping_country="ship_country")
    )


def test_valid_codes_are_kept_as_the_api_takes_them(tmp_path: Path) -> None:
    def edit(frame: pd.DataFrame) -> None:
        with_codes(frame)
        frame.loc[2, "ccy"], frame.loc[3, "ship_country"] = "eur", "de"  # the API takes these

    history = load_history(write_csv(tmp_path, edit), coded_mapping(tmp_path))
    assert set(history["time_zone"]) == {"Europe/Berlin"}
    assert set(history["shipping_country"]) == {"DE"}
    assert set(history["currency"]) == {"EUR"}


@pytest.mark.parametrize(
    ("column", "row", "value", "message"),
    [
        ("ccy", 3, "XYZ", "(mapped to currency), row 3: 'XYZ' is not an ISO 4217 currency code"),
        ("ccy", 4, "BTC", "(mapped to currency), row 4: 'BTC' is not an ISO 4217 currency code"),
        ("zone", 5, "Mars/Base", "(mapped to time_zone), row 5: 'Mars/Base' is not an IANA time"),
        (
            "ship_country",
            6,
            "Germany",
            "(mapped to shipping_country), row 6: 'Germany' is not an ISO 3166-1 alpha-2",
        ),
    ],
    ids=["unknown-currency", "crypto-currency", "unknown-zone", "country-spelled-out"],
)
def test_codes_the_api_would_refuse_are_refused(
    tmp_path: Path, column: str, row: int, value: str, message: str
) -> None:
    def edit(frame: pd.DataFrame) -> None:
        with_codes(frame)
        set_cell(column, row, value)(frame)

    with pytest.raises(HistoryImportError, match=re.escape(f"column {column!r} {message}")):
        load_history(write_csv(tmp_path, edit), coded_mapping(tmp_path))


def test_bad_values_in_parquet_name_column_and_row(tmp_path: Path) -> None:
    frame = pd.read_parquet(SMALL_PARQUET)
    frame.loc[11, "order_total"] = -12.5
    path = tmp_path / "history.parquet"
    frame.to_parquet(path)
    message = (
        "column 'order_total' (mapped to amount), row 12: amount must be at least 0, got -12.5"
    )
    with pytest.raises(HistoryImportError, match=re.escape(message)):
        load_history(path, SMALL_MAPPING)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m["columns"].update(total="order_total"),
            "unknown canonical field(s) 'total'; allowed: order_id, created_at, customer_id",
        ),
        (
            lambda m: m.update(time_zone="UTC"),
            "unknown key 'time_zone'; allowed: columns, timestamp_format, timezone, "
            "label_known_after, label_values",
        ),
        (
            lambda m: m["columns"].pop("amount"),
            "columns: required field(s) not mapped: amount",
        ),
        (
            lambda m: m["columns"].pop("label_known_at"),
            "'label' is mapped but neither 'label_known_at' nor label_known_after is: labels "
            "need the time they became known, to train without leakage",
        ),
        (
            lambda m: m["label_values"]["legit"].append("Fraud"),
            "values listed as both fraud and legit: fraud",
        ),
        (lambda m: m.update(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (
            lambda m: m["columns"].update(item_count="n_items"),
            "map either 'items' or 'item_count', not both",
        ),
    ],
    ids=[
        "unknown-field",
        "unknown-key",
        "required-not-mapped",
        "label-without-time",
        "label-in-both",
        "unknown-zone",
        "items-twice",
    ],
)
def test_bad_mappings_are_explained(
    tmp_path: Path, edit: Callable[[dict[str, Any]], Any], message: str
) -> None:
    with pytest.raises(HistoryImportError, match=re.escape(message)):
        load_history(SMALL_CSV, write_mapping(tmp_path, edit))


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "history.xlsx"
    path.write_bytes(b"PK")
    message = (
        "cannot read history.xlsx: unsupported file type '.xlsx'; use one of .csv, .parquet, .pq"
    )
    with pytest.raises(HistoryImportError, match=re.escape(message)):
        load_history(path, SMALL_MAPPING)


def test_import_errors_are_value_errors() -> None:
    assert issubclass(HistoryImportError, ValueError)
