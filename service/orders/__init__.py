"""Stored orders and their decisions, shown through the masking policy."""
