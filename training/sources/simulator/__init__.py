"""A labelled e-commerce order simulator: honest customers, hard honest cases, five fraud scenarios.

`simulate_orders(n)` returns canonical orders (see `features.schema`) with a fraud label,
the scenario that produced it and the moment the label became known.
"""

from training.sources.simulator.orders import SCENARIOS
from training.sources.simulator.simulate import simulate_orders

__all__ = ["SCENARIOS", "simulate_orders"]
