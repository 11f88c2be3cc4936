"""A labelled e-commerce order simulator: honest customers, hard honest cases, five fraud scenarios.

`simulate_orders(n)` returns canonical orders (see `features.schema`) with a fraud label,
the scenario that produced it and the moment the label became known.
"""

from training.simulation.orders import SCENARIOS
from training.simulation.simulate import simulate_orders

__all__ = ["SCENARIOS", "simulate_orders"]
