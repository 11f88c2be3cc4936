"""The reason codes a reviewer picks from, per action, and the fraud scenarios of a rejection."""

from __future__ import annotations

from service.persistence.errors import InvalidRecord

REASON_CODES: dict[str, dict[str, str]] = {
    "approve": {
        "customer_verified": "the customer confirmed the order",
        "known_good_customer": "a long-standing customer in good standing",
        "explained_pattern": "the risky pattern has an honest explanation",
        "other": "other (see the note)",
    },
    "reject": {
        "confirmed_fraud": "fraud confirmed by the evidence",
        "unreachable_customer": "the customer could not be reached to confirm",
        "linked_to_fraud": "linked to orders already confirmed as fraud",
        "other": "other (see the note)",
    },
    "escalate": {
        "needs_senior_review": "needs a senior reviewer's judgement",
        "high_value": "too valuable to decide alone",
        "contact_needed": "the customer must be contacted",
        "other": "other (see the note)",
    },
}
SCENARIOS: dict[str, str] = {
    "stock_hoarding": "stock hoarding (bulk buying of limited stock)",
    "card_testing": "card testing",
    "account_takeover": "account takeover",
    "reshipping": "reshipping to a drop address",
    "friendly_fraud": "friendly fraud",
    "other": "other fraud",
}


def check_reason(action: str, reason_code: str, scenario: str | None) -> None:
    """Refuse a reason code the action does not have, or a rejection without a scenario."""
    codes = REASON_CODES.get(action)
    if codes is None:
        raise InvalidRecord(f"action must be one of {', '.join(REASON_CODES)}; got {action!r}")
    if reason_code not in codes:
        raise InvalidRecord(f"reason_code of {action} must be one of {', '.join(codes)}")
    if action == "reject" and scenario not in SCENARIOS:
        raise InvalidRecord(f"a rejection names its scenario, one of {', '.join(SCENARIOS)}")
    if action != "reject" and scenario is not None:
        raise InvalidRecord("only a rejection names a fraud scenario")
