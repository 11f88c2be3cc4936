"""A decision's evidence: features in words, the order masked per role, what followed, erasure.

Orders are scored, reviewed and labelled through the real API of a running app;
the evidence is then built as legal and as admin see it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from features.build import build_offline_sources
from features.catalog import current
from features.store import apply, materialize
from models.scorer import Thresholds
from service.audit.evidence import NO_RULES, REGISTRY_UNAVAILABLE, Evidence, build_evidence
from service.audit.insights import definition
from service.auth.principal import Principal
from service.errors import NotFound
from service.persistence import decision_by_order, make_engine, save_decision
from service.persistence.access import personal_data_views
from service.persistence.audit_log import sequence_all
from service.persistence.personal import erase_customer
from service.settings import ServiceSettings
from tests.service.clients import api_client, new_key
from tests.service.persistence.samples import sample_decision
from tests.tiny_model import tiny_champion
from training.sources.payloads import order_payload

LEGAL = Principal("user", "u-legal", "lee", "legal")
ADMIN = Principal("user", "u-admin", "ada", "admin")
EMAIL = "ann.example@example.org"


@dataclass(frozen=True)
class Desk:
    settings: ServiceSettings
    client: TestClient
    engine: Engine


def scored(desk: Desk, row: pd.Series, order_id: str, **changes: Any) -> dict[str, Any]:
    order = order_payload(row)
    order.pop("created_at")
    order["order_id"] = order_id
    order["customer"] = {"id": f"cus-{order_id}", "email": EMAIL, "phone": "+49 170 1234567"}
    order["shipping_address"] = {
        "name": "Ann Example",
        "lines": ["1 Harbour Street"],
        "city": "Kiel",
        "country": "DE",
        "longitude": 10.13,
        "latitude": 54.32,
    }
    order.update(changes)
    answer = desk.client.post("/v1/orders/score", json=order)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, stream: pd.DataFrame) -> Iterator[Desk]:
    settings = ServiceSettings(data_dir=Path(tmp_path_factory.mktemp("evidence")))
    build_offline_sources(stream.iloc[:200], settings)
    apply(settings)
    materialize(settings)
    tiny_champion(settings, Thresholds(0.0, 0.0, 1.0))  # every order goes to review
    engine = make_engine(settings.db_url)
    with api_client(settings) as client:
        yield Desk(settings, client, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def reviewed(desk: Desk, stream: pd.DataFrame) -> str:
    """An order scored high, claimed and approved by a reviewer, then paid."""
    decided = scored(desk, stream.iloc[300], "ev-1")
    assert decided["tier"] == "high"
    review = {"Authorization": f"Bearer {new_key(desk.settings, ['review'], 'reviewer')}"}
    cases = desk.client.get("/v1/review/cases", headers=review).json()
    [case_id] = [case["id"] for case in cases if case["order_id"] == "ev-1"]
    claimed = desk.client.post(f"/v1/review/cases/{case_id}/claim", headers=review)
    assert claimed.status_code == 200, claimed.text
    approved = desk.client.post(
        f"/v1/review/cases/{case_id}/approve",
        json={"reason_code": "customer_verified"},
        headers=review,
    )
    assert approved.status_code == 200, approved.text
    paid = desk.client.post("/v1/orders/ev-1/payment", json={"status": "authorized"})
    assert paid.status_code == 200, paid.text
    return "ev-1"


def evidence_of(desk: Desk, principal: Principal, order_id: str) -> Evidence:
    return build_evidence(desk.engine, desk.settings, principal, order_id)


def test_every_feature_is_shown_with_its_definition_value_and_contribution(
    desk: Desk, reviewed: str
) -> None:
    evidence = evidence_of(desk, LEGAL, reviewed)
    record = decision_by_order(desk.engine, reviewed)
    assert record is not None
    assert len(evidence.features) == len(current().features) == len(record.shap_values)
    sizes = [abs(row.contribution) for row in evidence.features]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0
    texts = {reason["feature"]: reason["text"] for reason in record.reasons}
    assert texts, "the decision has reasons"
    for row in evidence.features:
        assert row.definition == definition(row.name) and "archived model" not in row.definition
        assert row.contribution == record.shap_values[row.name]
        assert row.value == record.features[row.name] and not row.withheld
        if row.name in texts:
            assert row.reason == texts[row.name]
    rows = {row.name: row for row in evidence.features}
    assert rows["device_accounts_1h"].definition == (
        "number of distinct accounts among the earlier orders of the device fingerprint "
        "in the 1 hour before the order"
    )
    assert rows["ip_is_hosting"].definition.startswith(
        "1 when the IP belongs to a datacenter or proxy network, 0 when"
    )
    assert evidence.thresholds == {"medium": 0.0, "high": 0.0, "critical": 1.0}
    assert (evidence.rules, evidence.rules_text) == ((), NO_RULES)
    assert evidence.model.available and evidence.model.run_id
    assert (evidence.score, evidence.raw_score) == (record.score, record.raw_score)


def test_the_summary_tells_why_and_what_the_reviewer_decided(desk: Desk, reviewed: str) -> None:
    evidence = evidence_of(desk, LEGAL, reviewed)
    record = decision_by_order(desk.engine, reviewed)
    assert record is not None
    top = record.reasons[0]["text"]
    for part in (
        f"Order {reviewed} was decided",
        f"Its fraud score was {record.score:.4f}, at or above the high cut point 0.0000 "
        "and below the critical cut point 1.0000, so it fell in the high tier",
        "held for a reviewer with its stock frozen",
        f"What raised the score most: {top}",
        "approved the order because the customer confirmed the order, overturning the freeze; "
        "the stock was released.",
    ):
        assert part in evidence.summary


def test_what_followed_is_in_order_with_the_audit_entries(desk: Desk, reviewed: str) -> None:
    evidence = evidence_of(desk, LEGAL, reviewed)
    assert [step.action for step in evidence.review] == ["claim", "approve"]
    assert [(s.from_state, s.to_state) for s in evidence.stock] == [
        (None, "frozen"),
        ("frozen", "released"),
    ]
    assert [label.label for label in evidence.labels] == ["legit"]
    assert [p.status for p in evidence.payments] == ["authorized"]
    assert evidence.case_status == "approved"
    kinds = {line.kind for line in evidence.webhooks}
    assert {"decision.created", "stock.frozen", "stock.released"} <= kinds
    assert all(line.status is None for line in evidence.webhooks), "no endpoint is registered"
    times = [item.at for item in evidence.timeline]
    assert times == sorted(times) and len(times) == 2 + 2 + len(evidence.webhooks) + 1 + 1
    sources = {item.source for item in evidence.timeline}
    assert sources == {"review", "stock", "webhook", "label", "payment"}
    sequence_all(desk.engine)
    settled = evidence_of(desk, LEGAL, reviewed)
    kinds_logged = [entry.kind for entry in settled.entries]
    for kind in ("decision.created", "stock.frozen", "review.claim", "review.approve"):
        assert kind in kinds_logged
    assert {"stock.released", "label.legit", "payment.authorized"} <= set(kinds_logged)
    assert kinds_logged[0] == "decision.created"
    numbered = [entry.position for entry in settled.entries if entry.seq is not None]
    assert numbered and all(position.isdigit() for position in numbered)
    assert settled.entries[-1].position == "pending", "this very view, logged as it was built"


def test_legal_sees_the_email_and_admin_a_masked_one(desk: Desk, stream: pd.DataFrame) -> None:
    scored(desk, stream.iloc[301], "ev-mask")
    before = len(personal_data_views(desk.engine, "ev-mask"))
    legal = {a.path: a for a in evidence_of(desk, LEGAL, "ev-mask").order}
    assert len(personal_data_views(desk.engine, "ev-mask")) == before + 1, "legal's view is logged"
    admin_evidence = evidence_of(desk, ADMIN, "ev-mask")
    admin = {a.path: a for a in admin_evidence.order}
    assert (legal["customer.email"].shown, legal["customer.email"].visibility) == (
        EMAIL,
        "visible",
    )
    assert legal["shipping_address.lines"].shown == "1 Harbour Street"
    assert admin["customer.email"].visibility == "masked"
    assert admin["customer.email"].shown not in ("", EMAIL) and "@" in admin["customer.email"].shown
    assert admin["shipping_address.lines"].visibility == "hidden"
    for secret in (EMAIL, "1 Harbour Street", "1234567", "Ann Example"):
        assert secret not in repr(admin_evidence), secret
    assert len(personal_data_views(desk.engine, "ev-mask")) == before + 1, "admin saw none"
    # The hour of the order at the shipping longitude would give the longitude back.
    local = {row.name: row for row in admin_evidence.features}["local_hour"]
    assert local.withheld and local.value is None


def test_an_erased_value_says_when_and_by_whom(desk: Desk, stream: pd.DataFrame) -> None:
    scored(desk, stream.iloc[302], "ev-erased")
    assert EMAIL in {a.shown for a in evidence_of(desk, LEGAL, "ev-erased").order}
    erased = erase_customer(desk.engine, "cus-ev-erased", "user:dpo")
    assert erased.values >= 3
    evidence = evidence_of(desk, LEGAL, "ev-erased")
    rows = {a.path: a for a in evidence.order}
    for path in ("customer.email", "customer.phone", "shipping_address.name"):
        assert rows[path].visibility == "erased", path
        assert re.fullmatch(
            r"erased on \d{4}-\d\d-\d\d \d\d:\d\d UTC by user:dpo", rows[path].shown
        )
    assert EMAIL not in repr(evidence)
    assert rows["shipping_address.city"].shown == "Kiel", "what is not personal stays"


def test_an_unreachable_registry_is_said_and_the_rest_still_shows(desk: Desk) -> None:
    save_decision(desk.engine, sample_decision("ev-old", model_version="999"), open_case=False)
    evidence = evidence_of(desk, LEGAL, "ev-old")
    assert not evidence.model.available
    assert evidence.model.note.startswith(f"{REGISTRY_UNAVAILABLE}: ")
    assert evidence.model.run_id is None and evidence.model.metrics == {}
    rows = {row.name: row for row in evidence.features}
    assert rows["big"].definition.startswith("an input of the archived model")
    assert evidence.summary.startswith("Order ev-old was decided on 2024-03-01 07:30:15 UTC")


def test_an_unknown_order_is_not_found(desk: Desk) -> None:
    with pytest.raises(NotFound):
        evidence_of(desk, LEGAL, "ev-nowhere")
