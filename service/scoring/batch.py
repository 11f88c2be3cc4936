"""Score a stream of orders as the service would have at each order's time (`score-batch`).

The orders are replayed through the service's own online path (`OnlineFeatures`:
read the entity states at the order's time, then apply its event), over an
embedded store of their own in a temporary folder that starts whole and empty.
So each order sees what a service that received this very stream would have
seen: the earlier orders, and the declines and labels known before it. Each
stream's times are those `features.offline` gives training (a decline
`DECLINE_DELAY` after its order, a label at `label_known_at`, a withdrawn fraud
label from `fraud_known_at` until its withdrawal); each event waits on disk
(`later_events`) until the stream reaches its time. The entity states live in
the store's file too, so memory holds a chunk, not the file. The vectors of a
chunk are explained in one exact TreeSHAP pass and decided one by one by
`verdict.judge`, the decision of the API.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explain.contributions import explain
from features.columns import to_columns
from features.offline import fraud_withdrawals, stream_times
from features.online import OnlineFeatures
from features.order_row import order_columns
from features.settings import FeatureSettings
from features.spec import Columns, Stream
from features.state_stores import OnlineStoreUnavailable, state_store
from features.store import apply, epoch_now
from models.scorer import Scorer
from service.scoring.fail_policy import FailPolicy
from service.scoring.later_events import LaterEvents
from service.scoring.verdict import Verdict, judge, reviewed_tiers
from service.settings import ServiceSettings

# What the file knows of an order's outcomes: the order system does not send them with the order.
OUTCOMES = frozenset(
    {"payment_declined", "label", "scenario", "label_known_at", "fraud_known_at", "labelled_at"}
)


class BatchScoringError(RuntimeError):
    """Raised when the replay's own online store fails (never a degraded answer instead)."""


def replay_store(settings: FeatureSettings, folder: Path) -> OnlineFeatures:
    """Return the online path over a new, empty embedded store in `folder`."""
    local = settings.model_copy(
        update={
            "data_dir": folder,
            "online_store": "sqlite",
            # The same amounts as the service: its rate table, wherever its data dir is.
            "exchange_rates_path": settings.exchange_rates,
            # Bulk work on a local file: a slow disk must wait, not degrade the answers.
            "online_store_timeout_ms": settings.redis_timeout_seconds * 1000,
        }
    )
    store = apply(local)
    state_store(store).set_status("ok", epoch=epoch_now())
    return OnlineFeatures(store, local)


class BatchScorer:
    """Scores chunks of one time-ordered stream, each order as of its own time."""

    def __init__(
        self, scorer: Scorer, settings: ServiceSettings, folder: Path, reasons: int, labelled: bool
    ) -> None:
        """Score with `scorer` under the service's `settings`, keeping the replay in `folder`."""
        self._scorer = scorer
        self._features = replay_store(settings, folder)
        self._later = LaterEvents(folder / "later_events.db")
        self._reviewed = reviewed_tiers(settings.review_critical)
        self._fail_policy: FailPolicy = settings.fail_policy
        self._reasons = reasons
        self._labelled = labelled

    def score(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Return the decision of every order of a canonical chunk, in its order."""
        columns = to_columns(chunk)
        outcomes = _outcome_times(columns)
        fields = [name for name in chunk.columns if name not in OUTCOMES]
        orders = zip(*(columns[name].tolist() for name in fields), strict=True)
        matrix = np.empty((len(chunk), len(self._scorer.card.features)))
        try:
            for row, values in enumerate(orders):
                order = dict(zip(fields, values, strict=True))
                created_ms = int(order["created_at"])
                self._advance(created_ms)
                matrix[row] = self._served(order, created_ms)
                self._later.add(order, outcomes[row])
            # Upkeep of the store between chunks (old applied-event records, the WAL).
            self._features.checkpoint()
        except OnlineStoreUnavailable as error:
            raise BatchScoringError(f"the replay's online store failed: {error}") from error
        explanation = explain(self._scorer.booster, matrix)
        verdicts = [
            judge(
                self._scorer,
                matrix[row],
                explanation.values[row],
                float(explanation.base[row]),
                self._reviewed,
                self._fail_policy,
                reasons=self._reasons,
            )
            for row in range(len(chunk))
        ]
        return self._table(chunk, verdicts)

    def close(self) -> None:
        """Close the files of the outcomes still ahead (the folder goes with the caller's)."""
        self._later.close()

    def _served(self, order: dict[str, Any], created_ms: int) -> np.ndarray:
        """Return the order's vector as of its time, then count the order, as the API does."""
        with self._features.holding(order_columns(order), Stream.ORDERS, created_ms) as held:
            served = held.served(self._scorer.card.features)
            # Degraded means the store did not answer: `record` below raises for it.
            held.record()
        vector: np.ndarray = served.matrix[0]
        return vector

    def _advance(self, now_ms: int) -> None:
        """Apply the outcomes that count before `now_ms`, in time order, as the API does."""
        for event in self._later.due(now_ms):
            columns = order_columns(event.order)
            self._features.record(columns, event.stream, event.time_ms, None, event.withdraws_ms)

    def _table(self, chunk: pd.DataFrame, verdicts: list[Verdict]) -> pd.DataFrame:
        """Return the chunk's decisions as the output's columns."""
        created = chunk["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
        table: dict[str, Any] = {
            "order_id": chunk["order_id"].to_numpy(),
            "created_at": created.to_numpy(),
            "score": [v.score for v in verdicts],
            "tier": [v.tier.value for v in verdicts],
            "action": [v.action.value for v in verdicts],
            "freeze": ["true" if v.freeze else "false" for v in verdicts],
            "model_version": self._scorer.version,
        }
        for place in range(self._reasons):
            reasons = [v.reasons[place] if place < len(v.reasons) else None for v in verdicts]
            table[f"reason_{place + 1}"] = [r.feature if r else None for r in reasons]
            table[f"reason_{place + 1}_text"] = [r.text if r else None for r in reasons]
        if self._labelled:
            table["label"] = chunk["label"].to_numpy()
        return pd.DataFrame(table)


def _outcome_times(columns: Columns) -> list[list[tuple[int, Stream, int | None]]]:
    """Return, per order, its later events: (time, stream, withdrawn label's time or None).

    Each stream's times are the offline definition's (`stream_times`), so the
    replay counts what training counts; a withdrawn fraud label adds its withdrawal.
    """
    times = {s: stream_times(columns, s).tolist() for s in Stream if s is not Stream.ORDERS}
    withdrawn, withdrawn_at = fraud_withdrawals(columns)
    flagged = columns["fraud_known_at"]
    out: list[list[tuple[int, Stream, int | None]]] = []
    for row in range(len(columns["created_at"])):
        events: list[tuple[int, Stream, int | None]] = [
            (int(at[row]), stream, None) for stream, at in times.items() if not math.isnan(at[row])
        ]
        if withdrawn[row]:
            events.append((int(withdrawn_at[row]), Stream.FRAUD, int(flagged[row])))
        out.append(events)
    return out
