"""Pages rendered through the app: the review case list and the start page per role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.persistence import make_engine, save_decision
from service.settings import ServiceSettings
from tests.service.clients import create_people, sign_in
from tests.service.persistence.samples import sample_decision


@pytest.fixture(scope="module")
def pages(settings: ServiceSettings) -> TestClient:
    create_people(settings)
    return TestClient(create_app(settings))


def test_open_cases_list_links_to_their_orders(
    pages: TestClient, settings: ServiceSettings
) -> None:
    with pages:
        engine = make_engine(settings.db_url)
        save_decision(engine, sample_decision("case-<1>"), open_case=True)
        engine.dispose()
        sign_in(pages, "reviewer")
        html = pages.get("/cases").text
        assert 'href="/orders/case-%3C1%3E">case-&lt;1&gt;</a>' in html, "linked and escaped"


@pytest.mark.parametrize(
    ("role", "links"),
    [
        ("reviewer", {"/cases": True, "/audit/personal-data": False}),
        ("legal", {"/cases": True, "/audit/personal-data": True}),
        ("logistics", {"/cases": False, "/audit/personal-data": False}),
    ],
)
def test_the_start_page_offers_what_the_role_may_open(
    pages: TestClient, role: str, links: dict[str, bool]
) -> None:
    with pages:
        pages.cookies.clear()
        sign_in(pages, role)
        html = pages.get("/").text
        assert f"{role} ({role})" in html
        for link, offered in links.items():
            assert (f'href="{link}"' in html) == offered, (role, link)


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("reviewer", "/orders/a%00b"),
        ("reviewer", "/review?tier=a%00"),
        ("reviewer", "/review/rows?reason=a%00"),
        ("admin", "/audit/personal-data?order_id=a%00"),
    ],
)
def test_control_characters_in_page_paths_and_queries_are_refused(
    pages: TestClient, role: str, path: str
) -> None:
    with pages:
        sign_in(pages, role)
        answer = pages.get(path)
    assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
