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
    due_feature_updates,
    enqueue_feature_update,
    mark_feature_update,
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
    "close_case",
    "decision_by_order",
    "due_feature_updates",
    "enqueue_feature_update",
    "labels_for_order",
    "make_engine",
    "mark_feature_update",
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
