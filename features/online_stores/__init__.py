"""OrderShield's Feast online stores (SQLite and Redis), in a layout of their own.

feature_store.yaml selects one by its class's dotted name (`type:`), and Feast
finds its config class, the same name with `Config`, in the same module. Each
store also gives the scoring path its one-round-trip reads and writes
(`features.state_stores`) over the same rows Feast materializes and serves.
"""
