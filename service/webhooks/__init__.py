"""Webhooks: the transactional outbox delivered, signed, to the order system's endpoints."""
