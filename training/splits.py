"""Out-of-time splits: train on earlier orders, validate on later ones, test on the latest."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class TimeSplit:
    """Boundaries of the train, validation and test periods (each [start, end))."""

    start: pd.Timestamp
    train_end: pd.Timestamp
    valid_end: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def by_fraction(
        cls,
        times: pd.Series,
        train: float = 0.6,
        valid: float = 0.2,
        train_end: str | None = None,
        valid_end: str | None = None,
    ) -> TimeSplit:
        """Split a period by time fractions unless explicit boundaries are given."""
        start, last = times.min(), times.max()
        span = last - start
        t_end = pd.Timestamp(train_end, tz="UTC") if train_end else start + span * train
        v_end = pd.Timestamp(valid_end, tz="UTC") if valid_end else start + span * (train + valid)
        split = cls(start, t_end, v_end, last + pd.Timedelta(milliseconds=1))
        if not start < split.train_end < split.valid_end < split.end:
            raise ValueError(f"periods must follow each other inside the data: {split.describe()}")
        return split

    def describe(self) -> dict[str, str]:
        """Return the period boundaries as ISO strings."""
        return {
            "train": f"{self.start.isoformat()} .. {self.train_end.isoformat()}",
            "valid": f"{self.train_end.isoformat()} .. {self.valid_end.isoformat()}",
            "test": f"{self.valid_end.isoformat()} .. {self.end.isoformat()}",
        }

    def masks(self, times: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Return boolean masks of the train, validation and test rows."""
        return (
            times < self.train_end,
            (times >= self.train_end) & (times < self.valid_end),
            times >= self.valid_end,
        )
