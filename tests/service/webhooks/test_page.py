"""The admin page: endpoints without secrets, the escaped delivery log, and retry with CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from service.app import create_app
from service.persistence import make_engine, save_decision
from service.persistence.webhooks import list_deliveries
from service.settings import ServiceSettings
from service.webhooks.delivery import deliver_due
from service.webhooks.service import add_endpoint
from tests.service.clients import create_people, sign_in
from tests.service.persistence.samples import sample_decision


def test_admins_see_endpoints_and_deliveries_and_retry_a_failed_one(
    settings: ServiceSettings,
) -> None:
    create_people(settings)
    engine = make_engine(settings.db_url)
    _, secret = add_endpoint(engine, "http://127.0.0.1:9/<b>hooks</b>", "<i>orders</i>")
    save_decision(engine, sample_decision("ord-<script>"), open_case=False)
    t0 = datetime.now(UTC)
    deliver_due(engine, settings, now=t0)  # nothing listens on port 9: refused
    deliver_due(engine, settings, now=t0 + timedelta(days=4))
    [failed] = list_deliveries(engine)
    assert failed.status == "failed"
    with TestClient(create_app(settings)) as client:
        token = sign_in(client, "admin")
        html = client.get("/admin/webhooks").text
        assert secret not in html
        assert "&lt;b&gt;hooks&lt;/b&gt;" in html and "&lt;i&gt;orders&lt;/i&gt;" in html
        assert "ord-&lt;script&gt;" in html and "<script>" not in html
        assert f"evt_{failed.event_id}" in html and "decision.created" in html
        action = f"/admin/webhooks/deliveries/{failed.id}/retry"
        assert f'action="{action}"' in html
        refused = client.post(action, data={"csrf_token": "wrong"}, follow_redirects=False)
        assert refused.status_code == 403
        done = client.post(action, data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/admin/webhooks"
        assert list_deliveries(engine)[0].status == "pending"
        again = client.post(action, data={"csrf_token": token}, follow_redirects=False)
        assert again.status_code == 409, "only a failed delivery is retried"
        huge = client.post(f"/admin/webhooks/deliveries/{10**30}/retry", data={"csrf_token": token})
        assert huge.status_code == 422 and "delivery_id" in huge.text
        missing = client.post("/admin/webhooks/deliveries/999/retry", data={"csrf_token": token})
        assert missing.status_code == 404
        client.cookies.clear()
        sign_in(client, "reviewer")
        assert client.get("/admin/webhooks").status_code == 403
    engine.dispose()
