"""A history without label times: labels known a fixed delay after their order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.trained import HISTORY, MAPPING
from training.sources.history import HistoryImportError, load_history


def _mapping(tmp_path: Path, replace: str, by: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING.read_text().replace(replace, by))
    return path


def test_labels_are_known_the_declared_delay_after_their_order(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, "  label_known_at: status_updated_at\n", "")
    mapping.write_text("label_known_after: 7d\n" + mapping.read_text())
    orders = load_history(HISTORY, mapping)
    labelled = orders["label"].notna()
    assert labelled.any()
    delay = orders.loc[labelled, "label_known_at"] - orders.loc[labelled, "created_at"]
    assert (delay == pd.Timedelta(days=7)).all()
    assert orders.loc[~labelled, "label_known_at"].isna().all()


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("columns:\n", "label_known_after: 7d\ncolumns:\n", "not both"),
        ("timezone: UTC\n", "timezone: UTC\nlabel_known_after: 7y\n", "7y"),
        ("  label_known_at: status_updated_at\n", "", "label_known_after"),
    ],
)
def test_a_label_time_is_mapped_or_declared_once(
    tmp_path: Path, replace: str, by: str, message: str
) -> None:
    with pytest.raises(HistoryImportError, match=message):
        load_history(HISTORY, _mapping(tmp_path, replace, by))
