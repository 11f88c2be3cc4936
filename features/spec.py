"""The feature spec: every feature OrderShield uses, declared once.

Feast definitions (`features.repo`), the offline point-in-time computation
(`features.offline`) and the online state that serves them (`features.state`)
are all derived from the declarations below.

Windows are bucketed: a window of length `w` is kept as 60 buckets of `w / 60`,
and "in the last w" at time `t` counts events from the start of the bucket that
is 59 buckets before `t`'s bucket up to (not including) `t`. Offline and online
use exactly this definition, so a served value equals its training value, and a
window read later in a quiet period has lost the buckets that fell out of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Literal, get_args

import numpy as np

BUCKETS_PER_WINDOW = 60
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# The longest duration a window, a delay or a period option may have (about 27 years).
LONGEST = 10_000 * DAY


class Agg(StrEnum):
    """How a feature aggregates an entity's earlier events."""

    COUNT = "count"
    DISTINCT = "distinct"
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    HOURS_SINCE_FIRST = "hours_since_first"
    HOURS_SINCE_LAST = "hours_since_last"


class Stream(StrEnum):
    """The event streams features aggregate, each stamped when it became known."""

    ORDERS = "orders"  # at created_at
    DECLINES = "declines"  # declined payments, at created_at + DECLINE_DELAY
    FRAUD = "fraud"  # confirmed fraud labels, at label_known_at
    LABELS = "labels"  # orders that got a label (fraud or legitimate), at their first one's time


# The order columns each stream is made of.
STREAM_COLUMNS: Mapping[Stream, tuple[str, ...]] = {
    Stream.ORDERS: ("created_at",),
    Stream.DECLINES: ("payment_declined",),
    Stream.FRAUD: ("label", "label_known_at"),
    Stream.LABELS: ("label", "label_known_at"),
}


# What a feature speaks of, for reviewers: the five entities, or the order's own contents.
Family = Literal["device", "network", "payment", "address", "customer", "order"]
FAMILIES: tuple[Family, ...] = get_args(Family)


@dataclass(frozen=True)
class Entity:
    """A thing orders share and features aggregate over."""

    name: str
    key: str
    description: str
    family: Family

    def __hash__(self) -> int:
        """Hash by name alone (equal entities have equal names): states are keyed by entity."""
        return hash(self.name)


CUSTOMER = Entity("customer", "customer_id", "the ordering account", "customer")
DEVICE = Entity("device", "device_id", "the device fingerprint", "device")
IP_CLUSTER = Entity(
    "ip_cluster", "ip_cluster", "the network block (ASN prefix, else /24 or /48)", "network"
)
PAYMENT = Entity("payment", "payment_id", "the payment account", "payment")
ADDRESS = Entity("address", "shipping_address_id", "the shipping address", "address")
ENTITIES: tuple[Entity, ...] = (CUSTOMER, DEVICE, IP_CLUSTER, PAYMENT, ADDRESS)

# Values that are summed are kept as integers (amounts in cents) so that offline
# prefix sums and online bucket sums agree to the last digit.
VALUE_SCALE: Mapping[str, int] = {"amount_reporting": 100}
# A distinct count reads at most this many values: the online state keeps no more
# per bucket (a carrier NAT or a pickup point stays small), and offline clips to it.
DISTINCT_CAP = 64


@dataclass(frozen=True)
class Aggregate:
    """A feature aggregated over one entity's earlier events."""

    name: str
    entity: Entity
    agg: Agg
    text: str
    window: timedelta | None = None
    stream: Stream = Stream.ORDERS
    of: str | None = None
    cap: int = DISTINCT_CAP
    """The largest distinct count read (distinct counts only)."""

    def __hash__(self) -> int:
        """Hash by name alone (equal features have equal names): plans are cached by features."""
        return hash(self.name)

    @cached_property  # read for every event and every served value
    def bucket_ms(self) -> int | None:
        """Return the bucket length in milliseconds, or None for all history."""
        if self.window is None:
            return None
        return int(self.window / timedelta(milliseconds=1)) // BUCKETS_PER_WINDOW

    @property
    def family(self) -> Family:
        """Return what the feature speaks of: its entity's family."""
        return self.entity.family

    @property
    def needs(self) -> tuple[str, ...]:
        """Return the order columns this feature cannot be computed without."""
        columns = (self.entity.key, *STREAM_COLUMNS[self.stream], self.of)
        return tuple(c for c in columns if c is not None)


Columns = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Derived:
    """A feature computed from the order itself and, possibly, its aggregates."""

    name: str
    needs: tuple[str, ...]
    compute: Callable[[Columns], np.ndarray] = field(compare=False)
    text: str
    text_when_false: str | None = None
    family: Family = field(kw_only=True)
    reads: tuple[str, ...] = field(default=(), kw_only=True)
    """Columns read when an order has them, not needed (shown to roles like `needs`)."""

    @property
    def sources(self) -> tuple[str, ...]:
        """Return every column the value can depend on: what it needs and what it reads."""
        return (*self.needs, *self.reads)
