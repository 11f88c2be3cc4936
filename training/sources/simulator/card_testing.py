"""Card testing: one device running a list of stolen cards through small orders."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from training.sources.simulator import actors, baskets, difficulty, geo, orders, timeline
from training.sources.simulator.world import World

Array = npt.NDArray[Any]

# Throwaway accounts opened up to five days before the testing starts.
TESTERS = actors.AccountHabits(named_share=0.4, lead_minutes=(1.0, 5 * 24 * 60.0), phone_share=0.3)
# At hard: the cheap end of an ordinary basket, and cards bought for the shop's markets,
# mostly for its own country.
DISGUISED_PRICE_EUR = 0.5 * baskets.EVERYDAY_PRICE_EUR
DOMESTIC_CARDS = 0.75
# Share of a session's orders the issuers decline (drawn per session).
DECLINED = (0.55, 0.9)


def card_testing(
    rng: np.random.Generator,
    entities: World,
    period: timeline.Period,
    n: int,
    *,
    hard: bool = False,
) -> orders.Orders:
    """Return n card-testing orders, in sessions of eight to fifty."""
    sizes = actors.campaign_sizes(rng, n, 8, 50)
    session = _disguised if hard else _blunt
    return orders.concat(
        [
            orders.campaign(
                rng, session(rng, entities, period, size), orders.CARD_TESTING, DECLINED
            )
            for size in sizes
        ]
    )


def _blunt(
    rng: np.random.Generator, entities: World, period: timeline.Period, n: int
) -> dict[str, Array]:
    """Run the list within minutes from a bot farm, on cards from anywhere."""
    code = actors.storefront(rng)
    # Testers work around the clock, so their sessions ignore the shop's daily rhythm.
    start = int(timeline.uniform(rng, period.start_ms, period.end_ms - 2 * timeline.HOUR, 1)[0])
    duration = rng.uniform(3.0, 90.0) * timeline.MINUTE
    created = np.sort(start + (rng.random(n) * duration).astype(np.int64))

    count = int(rng.integers(1, 4))
    account, customers = actors.ring_accounts(rng, entities, created, code, count, TESTERS)
    farm = actors.bot_devices(
        rng,
        entities,
        1 if rng.random() < 0.75 else int(rng.integers(2, 4)),
        emulator=0.3 if rng.random() < 0.3 else 0.0,
    )
    device = farm[rng.integers(len(farm), size=n)]
    network = rng.random()
    if network < 0.45:
        cluster = actors.hosting_cluster(rng, entities, int(rng.integers(1, 5)), code)
        ip = cluster[rng.integers(len(cluster), size=n)]
    elif network < 0.8:
        ip = actors.residential_proxies(rng, entities, np.full(n, code, dtype=object))
    else:
        phones = actors.carrier_ips(rng, entities, code, int(rng.integers(1, 3)))
        ip = phones[rng.integers(len(phones), size=n)]
    card_of_order = _cards_tried(rng, n)
    listed = int(card_of_order[-1]) + 1
    issuer = np.array(geo.CODES, dtype=object)[rng.integers(len(geo.CODES), size=listed)]
    cards = actors.stolen_cards(rng, entities, issuer)
    billing = actors.addresses_in(rng, entities, issuer)
    shipping = actors.addresses_in(rng, entities, np.full(count, code, dtype=object))
    items = baskets.basket(rng, np.ones(n, dtype=np.int64), price_eur=6.0, sigma=0.6)
    return dict(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=cards[card_of_order],
        ship=shipping[account],
        bill=billing[card_of_order],
        **items,
    )


def _disguised(
    rng: np.random.Generator, entities: World, period: timeline.Period, n: int
) -> dict[str, Array]:
    """Run the list over days from aged accounts, each card as if its holder ordered it."""
    code = actors.storefront(rng)
    alone = np.zeros(n, dtype=np.int64)
    delay = difficulty.paced(rng, alone, 1.0, 6.0)
    latest = max(period.end_ms - 1 - int(delay[-1]), period.start_ms)
    begin = timeline.uniform(rng, period.start_ms, latest, 1)
    window = (np.array([period.start_ms]), begin)
    created = difficulty.fit(rng, delay, alone, window, period.end_ms)

    count = max(1, round(n * rng.uniform(0.15, 0.35)))
    account, customers = actors.ring_accounts(rng, entities, created, code, count, difficulty.AGED)
    device = difficulty.shopper_devices(rng, entities, count)[account]
    card_of_order = _cards_tried(rng, n)
    issuer = np.full(int(card_of_order[-1]) + 1, code, dtype=object)
    foreign = rng.random(len(issuer)) >= DOMESTIC_CARDS
    issuer[foreign] = geo.other_country(rng, issuer[foreign])
    cards = actors.stolen_cards(rng, entities, issuer)
    # The holder's address from the dump, for billing and delivery alike (the goods do not
    # matter), and a home proxy in the holder's country: every order agrees with its card.
    home = actors.addresses_in(rng, entities, issuer)[card_of_order]
    ip = actors.residential_proxies(rng, entities, issuer[card_of_order])
    items = difficulty.everyday_baskets(rng, n, price_eur=DISGUISED_PRICE_EUR)
    return dict(
        created_ms=created,
        customer=customers[account],
        device=device,
        ip=ip,
        payment=cards[card_of_order],
        ship=home,
        bill=home,
        **items,
    )


def _cards_tried(rng: np.random.Generator, n: int) -> Array:
    """Return each order's position in the card list."""
    # Mostly a new card for every attempt; a declined card is sometimes retried at once.
    fresh = rng.random(n) < 0.8
    fresh[0] = True
    return np.cumsum(fresh) - 1
