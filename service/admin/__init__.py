"""Operator actions on the running service."""
