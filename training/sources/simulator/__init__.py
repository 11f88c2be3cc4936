"""A labelled e-commerce order simulator: honest customers, hard honest cases, five fraud scenarios.

`simulate_orders(n)` returns canonical orders (see `features.schema`) with a fraud label,
the scenario that produced it and the moment the label became known;
`simulate_orders(n, difficulty="hard")` disguises the fraud (see `difficulty`).
"""

from training.sources.simulator.difficulty import DIFFICULTIES, Difficulty
from training.sources.simulator.orders import SCENARIOS
from training.sources.simulator.simulate import simulate_orders

__all__ = ["DIFFICULTIES", "SCENARIOS", "Difficulty", "simulate_orders"]
