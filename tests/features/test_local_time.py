"""Local time: the customer's time zone, else the shipping longitude, else UTC with a flag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalog import current

AT = pd.Timestamp("2026-12-07 23:30", tz="UTC").value / 1e6  # a Monday


def _values(name: str) -> list[float]:
    columns = {
        "created_at": np.full(4, AT),
        "shipping_lon": np.array([90.0, 30.0, np.nan, np.nan]),
        "time_zone": np.array(["Europe/Berlin", None, None, "Not/AZone"], dtype=object),
    }
    feature = current().by_name[name]
    return [float(v) for v in feature.compute(columns)]  # type: ignore[union-attr]


def test_the_time_zone_comes_first_then_the_longitude_then_utc() -> None:
    # Berlin (UTC+1 in December) before the 90° longitude; 30° east is 2 h ahead; UTC else.
    assert _values("local_hour") == [0.5, 1.5, 23.5, 23.5]
    assert _values("local_weekday") == [1.0, 1.0, 0.0, 0.0]
    assert _values("local_time_unknown") == [0.0, 0.0, 1.0, 1.0]


def test_local_time_features_read_the_zone_and_the_coordinates() -> None:
    for name in ("local_hour", "local_weekday", "local_time_unknown"):
        assert set(current().by_name[name].sources) >= {"time_zone", "shipping_lon"}  # type: ignore[union-attr]
