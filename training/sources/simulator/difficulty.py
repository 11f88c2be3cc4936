"""How closely fraud imitates honest customers, and the disguises it uses when it does.

`normal` (the default) is the world as it always was: every ring leaves the traces it is
known for (fresh accounts, datacenter networks, bot devices, bursts of minutes, baskets
at the purchase limit), so a model separates four of the five scenarios almost perfectly.
`hard` is the same shop after the rings have learnt: they use aged accounts, rotate
residential proxies in the target's country, run ordinary-looking devices, pace their
orders hours or days apart (past the one-hour windows) and fill honest-looking baskets.
Each scenario keeps the one trace its business needs (a drop address, declined cards,
limited stock, a new delivery address), so something stays learnable. Honest customers
and friendly fraud are the same at both difficulties.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from training.sources.simulator import actors, baskets, timeline, world
from training.sources.simulator.world import World

Array = npt.NDArray[Any]
Index = npt.NDArray[np.int64]

Difficulty = Literal["normal", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = get_args(Difficulty)

# Accounts opened months or years ago (farmed, or bought from breach markets) and left
# idle: as old as an honest customer's, with a real name and usually a phone number.
AGED = actors.AccountHabits(
    named_share=1.0, lead_minutes=(30 * 24 * 60.0, 2 * 365 * 24 * 60.0), phone_share=0.75
)


def check(difficulty: str) -> Difficulty:
    """Return the difficulty, or raise ValueError naming the ones there are."""
    for known in DIFFICULTIES:
        if difficulty == known:
            return known
    raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")


def paced(rng: np.random.Generator, owner: Array, low_hours: float, high_hours: float) -> Array:
    """Return each row's delay after its owner's first row, its rows low to high hours apart."""
    n = len(owner)
    order = np.argsort(owner, kind="stable")
    ranked = owner[order]
    first = np.r_[True, ranked[1:] != ranked[:-1]] if n else np.zeros(0, dtype=bool)
    total = np.cumsum(rng.uniform(low_hours, high_hours, size=n) * timeline.HOUR)
    # Carry the running total at each owner's first row over the owner's other rows.
    base = np.maximum.accumulate(np.where(first, total, 0.0))
    delay = np.empty(n, dtype=np.int64)
    delay[order] = (total - base).astype(np.int64)
    return delay


def fit(
    rng: np.random.Generator,
    delay: Array,
    owner: Array,
    window: tuple[Array, Array],
    end_ms: int,
) -> Array:
    """Return order times: each owner's rows `delay` after a start in its (earliest, usual) window.

    A spree that would run past `end_ms` starts at a random earlier time, though not before
    the earliest; one longer than the room there is gets squeezed into part of it.
    """
    earliest, usual = window
    span = np.zeros(len(usual), dtype=np.int64)
    np.maximum.at(span, owner, delay)
    room = np.maximum(end_ms - 1 - earliest, 0)
    # Random shares and starts, so sprees cut short do not all end on the period's last tick.
    scale = np.where(
        span > room, rng.uniform(0.5, 1.0, len(span)) * room / np.maximum(span, 1), 1.0
    )
    delay = (delay * scale[owner]).astype(np.int64)
    latest = end_ms - 1 - (span * scale).astype(np.int64)
    start = np.where(usual <= latest, usual, timeline.uniform(rng, earliest, latest, len(usual)))
    return start[owner] + delay


def shopper_devices(rng: np.random.Generator, entities: World, n: int) -> Index:
    """Register n devices that look like shoppers' own: the usual makes, no emulator."""
    return world.add_devices(rng, entities, world.device_kinds(rng, n))


def everyday_baskets(
    rng: np.random.Generator, n: int, *, price_eur: float = baskets.EVERYDAY_PRICE_EUR
) -> dict[str, Array]:
    """Return baskets with the honest mix of items and price spread, around `price_eur` an item."""
    skus = 1 + rng.poisson(baskets.EVERYDAY_EXTRA_SKUS, size=n)
    return baskets.basket(rng, skus, price_eur=price_eur, sigma=baskets.EVERYDAY_SIGMA)
