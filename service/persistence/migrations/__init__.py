"""Alembic environment and versions of the decisions database."""
