"""The scoring hook: validate an order, decide it, record the decision."""
