"""Decision search, each filter alone and together, and the per-version figures, on SQLite
and PostgreSQL; hostile search input answered with a 4xx naming the field."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from service.app import create_app
from service.audit.insights import importance_chart, version_insights
from service.persistence import case_for_order, close_case, make_engine, migrate, save_decision
from service.persistence.audit_log import LOG, PENDING
from service.persistence.audit_search import (
    MAX_LIMIT,
    DecisionQuery,
    InvalidQuery,
    search_decisions,
    stored_versions,
)
from service.persistence.cases import Actor, claim
from service.settings import ServiceSettings
from tests.service.clients import create_people, sign_in
from tests.service.persistence.samples import sample_decision

DAY = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One stored decision, with every value a filter can narrow on."""

    order: str
    customer: str
    tier: str
    action: str
    hours: int
    version: str
    reasons: tuple[str, ...]
    device: str
    reviewer: str | None = None
    closed: str | None = None

    @property
    def decided_at(self) -> datetime:
        return DAY + timedelta(hours=self.hours)


SPECS = (
    Spec("s-0", "c-a", "low", "approve", 1, "1", ("amount", "item_count"), "dev-1"),
    Spec("s-1", "c-a", "medium", "approve", 5, "1", ("device_orders_1h", "amount"), "dev-2"),
    Spec("s-2", "c-b", "high", "review", 26, "1", ("device_orders_1h",), "dev-1", "ann"),
    Spec("s-3", "c-b", "high", "review", 30, "2", ("amount",), "dev-3", "bo", "approved"),
    Spec("s-4", "c-c", "critical", "decline", 50, "2", ("ip_is_hosting",), "dev-1"),
    Spec(
        "s-5",
        "c-c",
        "high",
        "review",
        51,
        "2",
        ("item_count", "ip_is_hosting"),
        "dev-2",
        "ann",
        "rejected",
    ),
    Spec("s-6", "c-d", "high", "review", 52, "2", ("amount",), "dev-4", "cy", "approved"),
)
NEWEST_FIRST = sorted(SPECS, key=lambda s: s.decided_at, reverse=True)


def shap_of(spec: Spec) -> dict[str, float]:
    return {"amount": spec.hours / 10, "device_orders_1h": -spec.hours / 100, "item_count": 0.0}


def store(engine: Engine) -> None:
    for spec in SPECS:
        reasons = [
            {"feature": name, "value": 1.0, "contribution": 0.5 / (n + 1), "text": name}
            for n, name in enumerate(spec.reasons)
        ]
        new = sample_decision(
            spec.order,
            customer_id=spec.customer,
            tier=spec.tier,
            action=spec.action,
            created_at=spec.decided_at - timedelta(seconds=1),
            decided_at=spec.decided_at,
            model_version=spec.version,
            reasons=reasons,
            shap_values=shap_of(spec),
        )
        links = {"device": spec.device, "payment": f"pm-{spec.customer}", "ip_cluster": None}
        save_decision(engine, new, open_case=spec.tier == "high", links=links)
        if spec.reviewer:
            case = case_for_order(engine, spec.order)
            assert case is not None
            claim(engine, case.id, Actor(f"id-{spec.reviewer}", spec.reviewer, "reviewer"), HOUR)
            if spec.closed:
                close_case(engine, case.id, spec.closed, spec.reviewer)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'ordershield.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    migrate(engine)
    store(engine)
    yield engine
    engine.dispose()


Wanted = tuple[dict[str, Any], Callable[[Spec], bool]]
FILTERS: dict[str, Wanted] = {
    "order id": ({"order_id": "s-3"}, lambda s: s.order == "s-3"),
    "customer id": ({"customer_id": "c-b"}, lambda s: s.customer == "c-b"),
    "device": ({"entity_kind": "device", "entity_key": "dev-1"}, lambda s: s.device == "dev-1"),
    "payment": (
        {"entity_kind": "payment", "entity_key": "pm-c-c"},
        lambda s: s.customer == "c-c",
    ),
    "time range": (
        {"start": DAY + 2 * HOUR, "end": DAY + 50 * HOUR},
        lambda s: 2 <= s.hours < 50,
    ),
    "tier": ({"tier": "high"}, lambda s: s.tier == "high"),
    "action": ({"action": "approve"}, lambda s: s.action == "approve"),
    "reason": ({"reason": "ip_is_hosting"}, lambda s: "ip_is_hosting" in s.reasons),
    "later reason": ({"reason": "item_count"}, lambda s: "item_count" in s.reasons),
    "time range in another zone": (
        {
            "start": (DAY + 2 * HOUR).astimezone(timezone(timedelta(hours=14))),
            "end": (DAY + 50 * HOUR).astimezone(timezone(timedelta(hours=-5))),
        },
        lambda s: 2 <= s.hours < 50,
    ),
    "model version": ({"model_version": "2"}, lambda s: s.version == "2"),
    "reviewer": ({"reviewer": "ann"}, lambda s: s.reviewer == "ann"),
    "together": (
        {"tier": "high", "model_version": "2", "reason": "amount"},
        lambda s: s.tier == "high" and s.version == "2" and "amount" in s.reasons,
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_narrows_to_exactly_its_decisions(engine: Engine, name: str) -> None:
    wanted, matches = FILTERS[name]
    expected = [spec.order for spec in NEWEST_FIRST if matches(spec)]
    assert 0 < len(expected) < len(SPECS), "the filter must both keep and drop decisions"
    found = search_decisions(engine, DecisionQuery(**wanted))
    assert [hit.order_id for hit in found.hits] == expected
    assert not found.more
    by_order = {spec.order: spec for spec in SPECS}
    for hit in found.hits:
        spec = by_order[hit.order_id]
        assert (hit.tier, hit.model_version, hit.customer_id) == (
            spec.tier,
            spec.version,
            spec.customer,
        )
        assert hit.top_reason == spec.reasons[0]


def test_no_filter_finds_everything_newest_first_in_pages(engine: Engine) -> None:
    pages = [search_decisions(engine, DecisionQuery(limit=3, offset=o)) for o in (0, 3, 6)]
    assert [page.more for page in pages] == [True, True, False]
    found = [hit.order_id for page in pages for hit in page.hits]
    assert found == [spec.order for spec in NEWEST_FIRST]


def test_an_unknown_key_finds_nothing(engine: Engine) -> None:
    query = DecisionQuery(entity_kind="address", entity_key="dev-1")
    assert search_decisions(engine, query).hits == ()


@pytest.mark.parametrize(
    ("wanted", "field"),
    [
        ({"tier": "severe"}, "tier"),
        ({"action": "shrug"}, "action"),
        ({"entity_kind": "planet", "entity_key": "x"}, "entity_kind"),
        ({"entity_key": "dev-1"}, "entity_kind"),
        ({"entity_kind": "device"}, "entity_key"),
        ({"reason": "Robert'); DROP TABLE decisions;--"}, "reason"),
        ({"start": datetime(2024, 3, 1)}, "start"),
        ({"start": DAY, "end": DAY}, "end"),
        ({"limit": MAX_LIMIT + 1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"order_id": "x" * 300}, "order_id"),
        ({"order_id": "s-\x003"}, "order_id"),
        ({"customer_id": "c-a\x1f"}, "customer_id"),
        ({"entity_kind": "device", "entity_key": "\x00"}, "entity_key"),
        ({"model_version": "2\x7f"}, "model_version"),
        ({"reviewer": "ann\n"}, "reviewer"),
        ({"reason": "amount\n"}, "reason"),
        ({"reason": "amount\x00"}, "reason"),
        ({"start": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))}, "start"),
        ({"end": datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14)))}, "end"),
        ({"start": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)}, "start"),
        ({"end": datetime(2101, 1, 1, 0, 0, 1, tzinfo=UTC)}, "end"),
    ],
)
def test_a_filter_that_cannot_be_used_names_its_field(wanted: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidQuery) as refused:
        DecisionQuery(**wanted)
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


def test_the_global_view_of_a_version(engine: Engine) -> None:
    second = [spec for spec in SPECS if spec.version == "2"]
    insights = version_insights(engine, "ordershield", "2")
    assert insights.decisions == len(second) == 4
    means = {item.name: item.mean_abs for item in insights.importance}
    for feature in ("amount", "device_orders_1h", "item_count"):
        expected = sum(abs(shap_of(spec)[feature]) for spec in second) / len(second)
        assert means[feature] == pytest.approx(expected, rel=1e-12)
    assert insights.importance[0].name == "amount", "largest first"
    days = {row.day: row for row in insights.days}
    assert set(days) == {"2024-03-02", "2024-03-03"}
    assert days["2024-03-02"].tiers == {"high": 1} and days["2024-03-02"].total == 1
    assert days["2024-03-03"].tiers == {"critical": 1, "high": 2}
    assert days["2024-03-03"].actions == {"decline": 1, "review": 2}
    assert insights.cases == {"approved": 2, "rejected": 1}
    assert insights.overturn_rate == pytest.approx(2 / 3)
    chart = str(importance_chart(insights.importance))
    assert chart.count('class="bar importance"') == 3 and "style" not in chart
    first = version_insights(engine, "ordershield", "1")
    assert first.cases == {"open": 1} and first.overturn_rate is None
    assert ("ordershield", "2", 4) in stored_versions(engine)


def test_times_are_kept_in_utc_and_the_years_2000_to_2100_are_searchable() -> None:
    plus_five = timezone(timedelta(hours=5))
    first, last = datetime(2000, 1, 1, tzinfo=UTC), datetime(2101, 1, 1, tzinfo=UTC)
    query = DecisionQuery(start=datetime(2000, 1, 1, 5, tzinfo=plus_five), end=last)
    assert query.start == first and query.start.tzinfo is UTC
    assert query.end == last


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def panel(request: pytest.FixtureRequest, settings: ServiceSettings) -> ServiceSettings:
    """The app's settings on each database (on PostgreSQL, the one `engine` stored in)."""
    if request.param == "sqlite":
        return settings
    url = str(request.getfixturevalue("postgres_url"))
    return settings.model_copy(update={"database_url": SecretStr(url)})


@pytest.fixture(scope="module")
def pages(panel: ServiceSettings) -> Iterator[TestClient]:
    create_people(panel, ["legal", "reviewer", "admin"])
    with TestClient(create_app(panel)) as client:
        yield client


def logged(settings: ServiceSettings) -> int:
    """Return how many audit entries the database holds, sequenced or pending."""
    engine = make_engine(settings.db_url)
    try:
        counted = select(
            select(func.count()).select_from(LOG).scalar_subquery()
            + select(func.count()).select_from(PENDING).scalar_subquery()
        )
        with engine.connect() as connection:
            return int(connection.execute(counted).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tier=severe", "tier"),
        ("entity_kind=planet&entity_key=x", "entity_kind"),
        ("entity_key=dev-1", "entity_kind"),
        ("start=yesterday", "start"),
        ("start=2024-03-02&end=2024-03-01", "end"),
        ("reason=%3Cscript%3E", "reason"),
        ("reason=amount%0Aitem_count", "reason"),
        ("end=9999-12-31", "end"),
        ("start=0001-01-01", "start"),
        ("start=0001-01-01T00:00:00%2B14:00", "start"),
        ("end=9999-12-31T23:59:59-14:00", "end"),
        ("start=1999-12-31T23:59:59Z", "start"),
        ("order_id=%00", "order_id"),
        ("customer_id=c-a%00", "customer_id"),
        ("entity_kind=device&entity_key=%00", "entity_key"),
        ("model_version=%00", "model_version"),
        ("reviewer=a%0Dnn", "reviewer"),
    ],
)
def test_the_search_page_answers_bad_filters_with_422_naming_the_field(
    pages: TestClient, query: str, field: str
) -> None:
    pages.cookies.clear()
    sign_in(pages, "legal")
    answer = pages.get(f"/legal?{query}")
    assert answer.status_code == 422
    assert f'data-testid="search-error">{field}: ' in answer.text
    assert "<script>" not in answer.text


def test_the_search_page_refuses_an_unbounded_page(pages: TestClient) -> None:
    pages.cookies.clear()
    sign_in(pages, "legal")
    answer = pages.get(f"/legal?limit={MAX_LIMIT + 1}")
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["detail"]] == ["limit"]


def test_only_legal_and_admin_open_the_panel(pages: TestClient) -> None:
    for role, status in (("reviewer", 403), ("legal", 200), ("admin", 200)):
        pages.cookies.clear()
        token = sign_in(pages, role)
        assert pages.get("/legal").status_code == status, role
        assert pages.get("/legal/models/1").status_code in {status, 404}, role
        posted = pages.post("/legal/decisions/none/replay", data={"csrf_token": token})
        assert posted.status_code == (403 if status == 403 else 404), role
    pages.cookies.clear()
    assert pages.get("/legal", follow_redirects=False).status_code == 303


def test_a_replay_without_the_csrf_token_is_refused(pages: TestClient) -> None:
    pages.cookies.clear()
    sign_in(pages, "legal")
    assert pages.post("/legal/decisions/none/replay", data={}).status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/legal/decisions/{}"),
        ("POST", "/legal/decisions/{}/replay"),
        ("POST", "/legal/decisions/{}/counterfactual"),
        ("GET", "/legal/decisions/{}/bundle.json"),
        ("GET", "/legal/decisions/{}/evidence.pdf"),
    ],
)
@pytest.mark.parametrize("order_id", ["%00", "s-3%00", "s-%1F3", "%7F"])
def test_an_order_id_with_a_control_character_is_a_4xx_that_writes_nothing(
    pages: TestClient, panel: ServiceSettings, method: str, path: str, order_id: str
) -> None:
    pages.cookies.clear()
    token = sign_in(pages, "legal")
    before = logged(panel)
    extra: dict[str, Any] = {"data": {"csrf_token": token}} if method == "POST" else {}
    answer = pages.request(method, path.format(order_id), **extra)
    assert answer.status_code == 422, answer.text
    assert "order_id" in answer.text and "control character" in answer.text
    assert "\x00" not in answer.text
    assert logged(panel) == before


def test_a_refused_search_writes_nothing(pages: TestClient, panel: ServiceSettings) -> None:
    pages.cookies.clear()
    sign_in(pages, "admin")
    before = logged(panel)
    for query in ("order_id=%00", "end=9999-12-31", "start=0001-01-01T00:00:00%2B14:00"):
        assert pages.get(f"/legal?{query}").status_code == 422, query
    assert logged(panel) == before
