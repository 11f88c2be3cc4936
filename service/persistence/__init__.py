"""Persistence of decisions, review cases, labels and the feature-update outbox.

SQLite in WAL mode by default, PostgreSQL in production; schema via Alembic.
"""

from service.persistence.db import checkpoint, make_engine, migrate, ping
from service.persistence.errors import (
    CaseClosed,
    ConflictingRequest,
    DatabaseUnavailable,
    InvalidRecord,
    NotFound,
    PersistenceError,
    UnsupportedDatabase,
)
from service.persistence.events import (
    labels_for_order,
    payment_outcomes_for_order,
    save_label,
    save_label_event,
    save_payment_event,
    save_payment_outcome,
)
from service.persistence.feature_updates import (
    claim_feature_updates,
    due_feature_updates,
    finish_feature_updates,
)
from service.persistence.records import (
    DecisionRecord,
    Label,
    NewDecision,
    PaymentOutcome,
    ReviewCase,
)
from service.persistence.repository import (
    case_for_order,
    close_case,
    decision_by_order,
    open_cases,
    save_decision,
)

__all__ = [
    "CaseClosed",
    "ConflictingRequest",
    "DatabaseUnavailable",
    "DecisionRecord",
    "InvalidRecord",
    "Label",
    "NewDecision",
    "NotFound",
    "PaymentOutcome",
    "PersistenceError",
    "ReviewCase",
    "UnsupportedDatabase",
    "case_for_order",
    "checkpoint",
    "claim_feature_updates",
    "close_case",
    "decision_by_order",
    "due_feature_updates",
    "finish_feature_updates",
    "labels_for_order",
    "make_engine",
    "migrate",
    "open_cases",
    "payment_outcomes_for_order",
    "ping",
    "save_decision",
    "save_label",
    "save_label_event",
    "save_payment_event",
    "save_payment_outcome",
]
