"""Turn simulated orders and entities into the canonical order table."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.schema import conform
from training.sources.simulator import geo, orders, text, timeline
from training.sources.simulator.world import World

Array = npt.NDArray[Any]


def to_frame(rng: np.random.Generator, entities: World, batch: orders.Orders) -> pd.DataFrame:
    """Return the orders as a canonical frame, with distinct times and late labels."""
    batch = orders.take(batch, np.argsort(batch["created_ms"], kind="stable"))
    created = timeline.strictly_increasing(batch["created_ms"])
    scenario = batch["scenario"]
    known = created + _label_delays(rng, scenario)
    salt = rng.integers(0, 2**62, size=4)

    customers, devices, payments = entities.customers, entities.devices, entities.payments
    addresses = entities.addresses
    customer, device, payment = batch["customer"], batch["device"], batch["payment"]
    ship, bill = batch["ship"], batch["bill"]
    ship_country = addresses.column("country")[ship]
    currency = pd.Series(ship_country).map({c.code: c.currency for c in geo.COUNTRIES}).to_numpy()
    rate = pd.Series(currency).map(geo.FX_PER_EUR).to_numpy(dtype=np.float64)
    address_ids = text.scrambled_ids("addr_", len(addresses), int(salt[2]))
    names = np.array((None, *orders.SCENARIOS), dtype=object)
    frame = pd.DataFrame(
        {
            "order_id": text.timed_ids(rng, "ord_", created),
            "created_at": _timestamps(created),
            "customer_id": text.scrambled_ids("cus_", len(customers), int(salt[0]))[customer],
            "customer_created_at": _timestamps(customers.column("created_ms")[customer]),
            "email": customers.column("email")[customer],
            "phone": customers.column("phone")[customer],
            "device_id": text.scrambled_ids("dev_", len(devices), int(salt[1]), width=16)[device],
            "user_agent": devices.column("user_agent")[device],
            "is_emulator": devices.column("emulator")[device],
            "ip": entities.ips.column("text")[batch["ip"]],
            "payment_id": text.scrambled_ids("pm_", len(payments), int(salt[3]), width=16)[payment],
            "payment_method": payments.column("method")[payment],
            "card_bin": payments.column("bin")[payment],
            "card_last4": payments.column("last4")[payment],
            "card_country": payments.column("country")[payment],
            "payment_declined": batch["declined"],
            "shipping_address_id": address_ids[ship],
            "shipping_country": ship_country,
            "shipping_lat": addresses.column("lat")[ship],
            "shipping_lon": addresses.column("lon")[ship],
            "billing_address_id": address_ids[bill],
            "billing_country": addresses.column("country")[bill],
            "amount": np.round(batch["amount_eur"] * rate, 2),
            "currency": currency,
            "item_count": batch["item_count"],
            "limited_quantity": batch["limited_quantity"],
            "max_item_quantity": batch["max_item_quantity"],
            "label": (scenario != orders.HONEST).astype(np.int8),
            "scenario": names[scenario],
            "label_known_at": _timestamps(known),
        }
    )
    return conform(frame)


def _timestamps(ms: Array) -> pd.Series:
    return pd.Series(ms.astype("datetime64[ms]")).dt.tz_localize("UTC")


def _label_delays(rng: np.random.Generator, scenario: Array) -> Array:
    """Return how long after each order its label became known."""
    delay = timeline.clean_delay(rng, len(scenario))
    charged_back = scenario > orders.HOARDING
    delay[charged_back] = timeline.chargeback_delay(rng, int(charged_back.sum()))
    # Hoarded orders are never paid for; that is plain within hours.
    unpaid = scenario == orders.HOARDING
    delay[unpaid] = timeline.non_payment_delay(rng, int(unpaid.sum()))
    return delay
