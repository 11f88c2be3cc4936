"""One column of a user's history file: its values, and errors that name the column and row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.sources.mapping import HistoryImportError


@dataclass(frozen=True)
class UserColumn:
    """One user column and the canonical field it is mapped to."""

    field: str
    source: str
    values: pd.Series
    first_row: int = 0
    """Data rows of the file before these values (a chunk's place in the file)."""

    def reject(self, bad: pd.Series, problem: str) -> None:
        """Raise for the first row flagged in `bad`; `{value}` in `problem` shows its value."""
        flags = bad.fillna(False).to_numpy(dtype=bool)
        if flags.any():
            row = int(flags.argmax())
            raise self.error(row, problem.replace("{value}", shown(self.values.iloc[row])))

    def error(self, row: int, problem: str) -> HistoryImportError:
        """Return an error about one row of this column."""
        where = f"column {self.source!r} (mapped to {self.field}), row {self.first_row + row + 1}"
        return HistoryImportError(f"{where}: {problem}")


def text_of(values: pd.Series) -> pd.Series:
    """Return a column's cells as stripped text; an empty cell is missing."""
    if pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 == 0).all():
        # Integer ids read from parquet as floats (because of gaps) must not gain a ".0".
        values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def shown(value: Any) -> str:
    """Return a value as an error message shows it (long text cut short)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return str(value.item() if isinstance(value, np.generic) else value)
