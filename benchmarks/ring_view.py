"""How fast the ring view finds an order's linked orders among millions of stored decisions.

Fills a fresh decisions database (SQLite by default, or `--database-url`) with
`--links` entity links of random orders over a year, plus a small ring whose
orders share a device and an address, then times `linked_orders` for one of
the ring's orders and prints the query plan of its index lookup. The ring's
own decisions are stored for real; the bulk rows only exist as links, which is
all the lookup reads before it joins the few orders it found.

    .venv/bin/python benchmarks/ring_view.py --links 10000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, text

from service.persistence import NewDecision, make_engine, migrate, save_decision
from service.persistence.links import linked_orders, linked_pairs
from service.persistence.tables import DecisionLinkRow

BATCH = 50_000
RING = 12
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def fill(engine: Engine, links: int, seed: int) -> None:
    """Insert `links` random entity links, a batch per transaction."""
    rng = random.Random(seed)
    kinds = ("device", "ip_cluster", "payment", "address")
    done = 0
    while done < links:
        rows = [
            {
                "order_id": f"bulk-{done + i}",
                "kind": kinds[(done + i) % 4],
                "key": f"k{rng.randrange(links // 3 + 1)}",
                "created_at": NOW - timedelta(seconds=rng.randrange(365 * 86_400)),
            }
            for i in range(min(BATCH, links - done))
        ]
        with engine.begin() as connection:
            connection.execute(insert(DecisionLinkRow), rows)
        done += len(rows)


def decision(order_id: str, created: datetime) -> NewDecision:
    """Return a plain high decision of an order."""
    return NewDecision(
        order_id=order_id,
        customer_id=None,
        created_at=created,
        decided_at=created,
        order_payload={"order_id": order_id, "amount": 100.0, "currency": "EUR"},
        features={},
        score=0.7,
        raw_score=0.85,
        tier="high",
        action="review",
        freeze=True,
        freeze_reason="high risk",
        reasons=[],
        shap_values={},
        base_value=-3.0,
        model_name="ordershield",
        model_version="1",
        thresholds={},
        spec_hash="0" * 16,
        rules_version=None,
        rules=[],
        degraded=False,
        latency_ms=1.0,
    )


def ring(engine: Engine) -> str:
    """Store a ring of orders sharing a device and an address; return the newest one's id."""
    for number in range(RING):
        order_id = f"ring-{number}"
        created = NOW - timedelta(hours=number)
        links = {"device": "farm-device", "address": "drop-address", "payment": f"card-{number}"}
        save_decision(engine, decision(order_id, created), open_case=True, links=links)
    return "ring-0"


def main() -> None:
    """Fill, then time the lookup and print the plan."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'ring.db'}"
        engine = make_engine(url)
        migrate(engine)
        started = time.perf_counter()
        fill(engine, args.links, seed=7)
        center = ring(engine)
        print(f"stored {args.links:,} links in {time.perf_counter() - started:.0f} s ({url})")
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            found = linked_orders(engine, center, NOW)
            timings.append((time.perf_counter() - started) * 1000)
        assert len(found) == RING - 1, len(found)
        median = statistics.median(timings)
        print(
            f"linked_orders: {len(found)} linked orders, median {median:.2f} ms,"
            f" max {max(timings):.2f} ms over {args.repeat} runs"
        )
        if engine.dialect.name == "sqlite":
            statement = linked_pairs(center, NOW).compile(
                engine, compile_kwargs={"literal_binds": True}
            )
            with engine.connect() as connection:
                for row in connection.execute(text(f"EXPLAIN QUERY PLAN {statement}")):
                    print("plan:", row[-1])
        engine.dispose()


if __name__ == "__main__":
    main()
