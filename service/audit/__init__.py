"""The audit area: signed checkpoints of the audit log and offline checks of evidence bundles."""
