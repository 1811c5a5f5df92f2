"""Outbound webhooks: endpoints, the outbox fan-out, signed at-least-once delivery with retries
over a day, failure and redelivery, and several workers delivering each event once. Time is
driven through the gateway clock, never slept through."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from gateway.adapters.db.models import Event, IdempotencyKey
from gateway.adapters.db.webhook_models import WebhookDelivery, WebhookEndpoint
from gateway.entrypoints.cli import main
from gateway.demo.webhooks import LocalReceiver, show_webhook_delivery
from gateway.domain.webhooks import MAX_ATTEMPTS, RETRY_SCHEDULE, event_payload
from gateway.services import events, webhooks
from gateway.sdk.webhooks import HEADER, verify
from gateway.entrypoints.workers import QUEUES
from gateway.entrypoints.workers.runner import resolve, run, run_pass
from gateway.entrypoints.workers.webhooks import deliver_due
from tests.integration.conftest import TEST_EPOCH, Shop, banking_hours_clock, make_gateway
from tests.support.services import free_port


class TravelClock:
    """Banking-hours time that a test can move forward at will."""

    def __init__(self, start=TEST_EPOCH) -> None:
        self._base = banking_hours_clock(start)
        self.offset = timedelta(0)

    def __call__(self):
        return self._base() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
def wgw(database_url, var_dir):
    """A gateway of its own (own engine, own clock) on the session database; the endpoints its
    tests register are deleted afterwards so that no later test delivers to them."""
    gw = make_gateway(database_url, var_dir)
    gw.clock = TravelClock()
    yield gw
    with gw.db.unit_of_work() as session:
        created = session.execute(select(WebhookEndpoint.merchant_id, WebhookEndpoint.id).where(WebhookEndpoint.status == "enabled")).all()
    for merchant_id, endpoint_id in created:
        webhooks.delete_endpoint(gw, merchant_id, endpoint_id)
    gw.db.dispose()


def register(shop: Shop, url: str, enabled_events=("*",)) -> dict:
    response = shop.post("/v1/webhook_endpoints", {"url": url, "enabled_events": list(enabled_events)})
    assert response.status_code == 200, response.json
    return response.json


def drain(gw, **kwargs) -> int:
    """Run the webhook worker until nothing is due; the number of attempts made."""
    total = 0
    for _ in range(100):
        done = deliver_due(gw, timeout=5, **kwargs)
        if not done:
            return total
        total += done
    raise AssertionError("the webhook queue never ran dry")


def record_event(gw, merchant_id: str, event_type: str = "payment.succeeded", **data) -> str:
    with gw.db.unit_of_work() as session:
        return events.record(session, merchant_id, event_type, {"object": "payment", "id": "pay_test", **data}, gw.clock()).id


def deliveries_of(shop: Shop, event_id: str) -> list[dict]:
    response = shop.get(f"/v1/events/{event_id}")
    assert response.status_code == 200, response.json
    return response.json["deliveries"]


def verified(gw, request, secret: str) -> bool:
    verify(request.body, request.headers[HEADER], secret, now=gw.clock().timestamp())
    return True


# ---- endpoints --------------------------------------------------------------------------------

def test_endpoint_secret_is_shown_once_and_stored_encrypted(wgw):
    shop = Shop(wgw)
    created = register(shop, "https://shop.example/hooks", ["payment.succeeded", "refund.succeeded"])
    assert created["id"].startswith("we_") and created["secret"].startswith("whsec_")
    assert created["enabled_events"] == ["payment.succeeded", "refund.succeeded"]
    assert created["status"] == "enabled"

    shown = shop.get(f"/v1/webhook_endpoints/{created['id']}").json
    assert "secret" not in shown and shown["url"] == "https://shop.example/hooks"
    assert {key: value for key, value in created.items() if key != "secret"} == shown  # `created` too
    listed = shop.get("/v1/webhook_endpoints").json
    assert [item["id"] for item in listed["data"]] == [created["id"]] and "secret" not in listed["data"][0]

    with wgw.db.unit_of_work() as session:
        row = session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == created["id"])).scalar_one()
    assert created["secret"] not in row.secret_ciphertext
    assert webhooks.endpoint_secret(wgw, row) == created["secret"]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"url": "ftp://shop.example/hooks", "enabled_events": ["*"]}, "url"),
        ({"url": "not a url", "enabled_events": ["*"]}, "url"),
        ({"url": "https://shop.example/hooks", "enabled_events": []}, "enabled_events"),
        ({"url": "https://shop.example/hooks", "enabled_events": ["payment.exploded"]}, "enabled_events.0"),
        ({"url": "https://shop.example/hooks"}, "enabled_events"),
    ],
)
def test_endpoint_input_is_checked(wgw, body, param):
    response = Shop(wgw).post("/v1/webhook_endpoints", body)
    assert response.status_code == 400
    assert response.json["error"]["param"] == param


def test_a_deleted_endpoint_gets_nothing_more_and_others_never_see_it(wgw):
    shop, other = Shop(wgw), Shop(wgw, "Other Shop")
    receiver = LocalReceiver().start()
    try:
        endpoint = register(shop, receiver.url)
        assert other.get(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404
        assert other.call("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404
        event_id = record_event(wgw, shop.id)

        deleted = shop.call("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")
        assert deleted.status_code == 200 and deleted.json["status"] == "deleted"
        assert shop.get(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 404
        assert shop.get("/v1/webhook_endpoints").json["data"] == []
        assert [d["status"] for d in deliveries_of(shop, event_id)] == ["canceled"]

        drain(wgw)
        record_event(wgw, shop.id)
        drain(wgw)
        assert receiver.snapshot() == []
    finally:
        receiver.stop()


def test_each_endpoint_gets_the_event_types_it_chose_and_only_its_merchants(wgw):
    shop, other = Shop(wgw), Shop(wgw, "Other Shop")
    refunds_only, payments_only, everything = LocalReceiver().start(), LocalReceiver().start(), LocalReceiver().start()
    try:
        register(shop, refunds_only.url, ["refund.succeeded"])
        register(shop, payments_only.url, ["payment.succeeded", "payment.failed"])
        register(other, everything.url, ["*"])

        paid = shop.pay(10_000)
        declined = shop.post("/v1/payments", {"amount": 500, "currency": "CNY", "payment_method": shop.token("0002"), "confirm": True})
        assert declined.json["status"] == "failed", declined.json
        refund = shop.post("/v1/refunds", {"payment": paid["id"], "amount": 1_000}).json
        drain(wgw)

        def received(receiver):
            return sorted((r.event["type"], r.event["data"]["object"]["id"]) for r in receiver.delivered())

        assert received(refunds_only) == [("refund.succeeded", refund["id"])]
        assert received(payments_only) == sorted([("payment.succeeded", paid["id"]), ("payment.failed", declined.json["id"])])
        assert everything.snapshot() == []
        shop_events = shop.get("/v1/events").json["data"]
        assert {e["id"] for e in shop_events}.isdisjoint({e["id"] for e in other.get("/v1/events").json["data"]})
        assert other.get(f"/v1/events/{shop_events[0]['id']}").status_code == 404
    finally:
        for receiver in (refunds_only, payments_only, everything):
            receiver.stop()


def test_an_event_rolled_back_with_its_change_queues_no_delivery(wgw):
    shop = Shop(wgw)
    register(shop, "http://127.0.0.1:9/never")
    with pytest.raises(RuntimeError):
        with wgw.db.unit_of_work() as session:
            events.record(session, shop.id, "payment.succeeded", {"object": "payment", "id": "pay_x"}, wgw.clock())
            raise RuntimeError("the change failed")
    assert shop.get("/v1/events").json["data"] == []
    with wgw.db.unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.merchant_id == shop.id)).scalar_one() == 0


# ---- delivery ---------------------------------------------------------------------------------

def test_a_receiver_that_is_down_then_up_gets_every_event_signed(wgw):
    shop = Shop(wgw)
    receiver = LocalReceiver(port=free_port())  # not started: connections are refused
    endpoint = register(shop, receiver.url)
    paid = [shop.pay(1_000 + n) for n in range(3)]
    assert shop.post("/v1/refunds", {"payment": paid[0]["id"], "amount": 300}).status_code == 200
    listed = shop.get("/v1/events?limit=100").json["data"]
    expected = {event["id"] for event in listed}
    assert sorted(event["type"] for event in listed) == ["payment.succeeded"] * 3 + ["refund.succeeded"]

    try:
        assert drain(wgw) == 4  # refused
        assert receiver.snapshot() == []
        first = deliveries_of(shop, listed[0]["id"])[0]
        assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, None)
        assert "Connection" in first["last_error"] or "refused" in first["last_error"].lower()

        receiver.status = 500
        receiver.start()
        assert drain(wgw) == 0  # nothing is due before the first retry time
        wgw.clock.advance(RETRY_SCHEDULE[0])
        assert drain(wgw) == 4  # answered 500
        assert deliveries_of(shop, listed[0]["id"])[0]["last_status_code"] == 500

        receiver.status = 200
        wgw.clock.advance(RETRY_SCHEDULE[1])
        assert drain(wgw) == 4
        assert drain(wgw) == 0
    finally:
        receiver.stop()

    delivered = receiver.delivered()
    assert {r.event["id"] for r in delivered} == expected
    assert all(verified(wgw, r, endpoint["secret"]) for r in delivered)
    failed_bodies = {r.event["id"]: r.body for r in receiver.snapshot() if not r.delivered}
    for request in delivered:  # the same id and the same bytes on every attempt
        assert request.body == failed_bodies[request.event["id"]]
        assert request.headers["Paygate-Event-Id"] == request.event["id"]
        assert request.headers["Paygate-Delivery-Attempt"] == "3"
    by_id = {r.event["id"]: r.event for r in delivered}
    assert by_id[listed[0]["id"]]["data"]["object"]["object"] == "refund"
    payment_event = next(e for e in by_id.values() if e["data"]["object"]["id"] == paid[1]["id"])
    assert payment_event["type"] == "payment.succeeded" and payment_event["data"]["object"]["amount"] == 1_001
    for event_id in expected:
        (delivery,) = deliveries_of(shop, event_id)
        assert (delivery["status"], delivery["attempts"], delivery["endpoint"]) == ("succeeded", 3, endpoint["id"])
        assert delivery["delivered"] is not None


def test_retries_follow_the_schedule_then_fail_visibly_and_redeliver_works(wgw):
    shop = Shop(wgw)
    receiver = LocalReceiver(status=500).start()
    try:
        endpoint = register(shop, receiver.url)
        event_id = record_event(wgw, shop.id, amount=4_200)
        started = wgw.clock()
        with wgw.db.unit_of_work() as session:
            created = session.execute(select(Event.created_at).where(Event.id == event_id)).scalar_one()

        for attempt in range(1, MAX_ATTEMPTS + 1):
            assert drain(wgw) == 1
            (delivery,) = deliveries_of(shop, event_id)
            assert delivery["attempts"] == attempt and delivery["last_status_code"] == 500
            if attempt == MAX_ATTEMPTS:
                break
            assert delivery["status"] == "pending"
            assert delivery["next_attempt"] - delivery["last_attempt"] == RETRY_SCHEDULE[attempt - 1].total_seconds()
            wgw.clock.advance(RETRY_SCHEDULE[attempt - 1] - timedelta(seconds=5))
            assert drain(wgw) == 0  # not before its time
            wgw.clock.advance(timedelta(seconds=5))

        assert delivery["status"] == "failed" and delivery["next_attempt"] is None
        assert wgw.clock() - started >= timedelta(hours=24)
        wgw.clock.advance(timedelta(days=3))
        assert drain(wgw) == 0  # failed for good: no more attempts
        assert len(receiver.snapshot()) == MAX_ATTEMPTS
        failed = shop.get("/v1/events?delivery_status=failed").json["data"]
        assert [event["id"] for event in failed] == [event_id]

        receiver.status = 200
        redelivered = shop.post(f"/v1/events/{event_id}/redeliver", {})
        assert redelivered.status_code == 200, redelivered.json
        assert [(d["status"], d["attempts"]) for d in redelivered.json["deliveries"]] == [("pending", 0)]
        assert drain(wgw) == 1
        (delivery,) = deliveries_of(shop, event_id)
        assert delivery["status"] == "succeeded"
        assert shop.get("/v1/events?delivery_status=failed").json["data"] == []
    finally:
        receiver.stop()

    requests = receiver.snapshot()
    assert len({r.body for r in requests}) == 1  # the same bytes, retries and redelivery alike
    assert requests[-1].delivered and verified(wgw, requests[-1], endpoint["secret"])
    with wgw.db.unit_of_work() as session:
        event = session.execute(select(Event).where(Event.id == event_id)).scalar_one()
    assert requests[-1].body == event_payload(event.id, event.type, created, event.data)


def test_redeliver_to_one_endpoint_and_refusals(wgw):
    shop, other = Shop(wgw), Shop(wgw, "Other Shop")
    event_id = record_event(wgw, shop.id)  # before any endpoint: nobody to send it to
    assert shop.post(f"/v1/events/{event_id}/redeliver", {}).json["error"]["code"] == "no_webhook_endpoint"
    assert other.post(f"/v1/events/{event_id}/redeliver", {}).status_code == 404
    assert shop.post("/v1/events/evt_missing/redeliver", {}).status_code == 404

    late, other_endpoint = LocalReceiver().start(), LocalReceiver().start()
    try:
        endpoint = register(shop, late.url)
        register(other, other_endpoint.url)
        assert shop.post(f"/v1/events/{event_id}/redeliver", {"endpoint": "we_unknown"}).status_code == 404
        response = shop.post(f"/v1/events/{event_id}/redeliver", {"endpoint": endpoint["id"]})
        assert response.status_code == 200
        assert [d["endpoint"] for d in response.json["deliveries"]] == [endpoint["id"]]
        drain(wgw)
        assert [r.event["id"] for r in late.delivered()] == [event_id]
        assert verified(wgw, late.delivered()[0], endpoint["secret"])
        assert other_endpoint.snapshot() == []
    finally:
        late.stop()
        other_endpoint.stop()


def test_a_crashed_workers_claims_come_back_after_the_lease(wgw):
    shop = Shop(wgw)
    receiver = LocalReceiver().start()
    try:
        register(shop, receiver.url)
        event_id = record_event(wgw, shop.id)
        lease = timedelta(minutes=2)
        (lost,) = webhooks.claim_due(wgw, 10, lease)  # this worker then dies
        assert drain(wgw) == 0  # claimed: nobody else takes it
        wgw.clock.advance(lease + timedelta(seconds=1))
        assert drain(wgw) == 1
        assert [r.event["id"] for r in receiver.delivered()] == [event_id]
        assert webhooks.record_attempt(wgw, lost, webhooks.AttemptResult(500)) is None  # its late word is ignored
        assert deliveries_of(shop, event_id)[0]["status"] == "succeeded"
    finally:
        receiver.stop()


def test_two_workers_in_parallel_deliver_each_event_exactly_once(database_url, var_dir, wgw):
    shop = Shop(wgw)
    receiver = LocalReceiver(delay=0.002).start()
    try:
        register(shop, receiver.url)
        expected = {record_event(wgw, shop.id, amount=n) for n in range(40)}
        workers = [make_gateway(database_url, var_dir) for _ in range(2)]
        for worker in workers:
            worker.clock = wgw.clock
        start, done, errors = threading.Barrier(2), [0, 0], []

        def work(index):
            try:
                start.wait()
                done[index] = drain(workers[index], batch=3)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for worker in workers:
            worker.db.dispose()
    finally:
        receiver.stop()

    assert not errors
    received = [r.event["id"] for r in receiver.delivered()]
    assert sorted(received) == sorted(expected)  # every event, none twice
    assert sum(done) == len(expected)


# ---- events API ---------------------------------------------------------------------------------

def test_events_list_newest_first_with_cursor_and_filters(wgw):
    shop = Shop(wgw)
    ids = [record_event(wgw, shop.id, "refund.succeeded" if n % 2 else "payment.succeeded") for n in range(5)]
    page = shop.get("/v1/events?limit=2").json
    assert [e["id"] for e in page["data"]] == ids[::-1][:2] and page["has_more"] is True
    rest = shop.get(f"/v1/events?limit=10&starting_after={page['data'][-1]['id']}").json
    assert [e["id"] for e in rest["data"]] == ids[::-1][2:] and rest["has_more"] is False
    refunds_only = shop.get("/v1/events?type=refund.succeeded").json["data"]
    assert [e["id"] for e in refunds_only] == [ids[3], ids[1]]
    event = shop.get(f"/v1/events/{ids[0]}").json
    assert event["object"] == "event" and event["data"]["object"]["id"] == "pay_test" and event["deliveries"] == []
    assert shop.get("/v1/events?type=nope").status_code == 400
    assert shop.get("/v1/events?starting_after=evt_missing").status_code == 404
    assert shop.client.get("/v1/events").status_code == 401


# ---- workers ----------------------------------------------------------------------------------

def test_queues_are_registered_and_a_failing_queue_does_not_stop_the_others(wgw):
    assert {"webhooks", "maintenance"} <= set(QUEUES)
    assert [name for name, _ in resolve(["webhooks"])] == ["webhooks"]
    with pytest.raises(ValueError, match="unknown queue"):
        resolve(["nope"])

    def broken(gw):
        raise RuntimeError("boom")

    assert run_pass(wgw, [("broken", broken), ("ok", lambda gw: 3)]) == {"broken": 0, "ok": 3}


def test_maintenance_purges_expired_idempotency_keys(wgw):
    shop = Shop(wgw)
    shop.pay(100)  # leaves a fresh key
    with wgw.db.unit_of_work() as session:
        session.add(IdempotencyKey(merchant_id=shop.id, key="old", fingerprint="x", state="completed", created_at=wgw.clock() - timedelta(hours=25)))
    assert run(wgw, ["maintenance"], once=True) >= 1
    with wgw.db.unit_of_work() as session:
        keys = set(session.execute(select(IdempotencyKey.key).where(IdempotencyKey.merchant_id == shop.id)).scalars())
    assert "old" not in keys and len(keys) == 1


def test_paygate_worker_command(own_database_url, tmp_path):
    env = {"PAYGATE_DATABASE_URL": own_database_url, "PAYGATE_VAR_DIR": str(tmp_path), "PAYGATE_VAULT_KEYS": ""}
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "worker done: 0 jobs" in result.output
    unknown = CliRunner().invoke(main, ["worker", "--queue", "nope", "--once"], env=env)
    assert unknown.exit_code == 2 and "unknown queue nope" in unknown.output


def test_demo_helper_shows_a_verified_delivery(wgw):
    shop = Shop(wgw)
    lines: list[str] = []
    assert show_webhook_delivery(wgw, shop.sdk, lambda: shop.pay(2_500), out=lines.append)
    text = "\n".join(lines)
    assert "payment.succeeded" in text and "signature verified" in text
    assert shop.get("/v1/webhook_endpoints").json["data"] == []  # cleaned up


# ---- production URL rules -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "url, code",
    [
        ("http://shop.example/hooks", "url_https_required"),
        ("https://127.0.0.1/hooks", "url_not_allowed"),
        ("https://[::1]:8443/hooks", "url_not_allowed"),
        ("https://169.254.169.254/latest/meta-data", "url_not_allowed"),
        ("https://localhost/hooks", "url_not_allowed"),
    ],
)
def test_production_endpoints_must_be_public_https(database_url, var_dir, url, code):
    live = make_gateway(database_url, var_dir, sandbox_endpoints=False)
    try:
        response = Shop(live).post("/v1/webhook_endpoints", {"url": url, "enabled_events": ["*"]})
        assert response.status_code == 400 and response.json["error"]["code"] == code
    finally:
        live.db.dispose()


def test_production_workers_do_not_deliver_to_internal_addresses(database_url, var_dir, wgw):
    shop = Shop(wgw)
    receiver = LocalReceiver().start()
    live = make_gateway(database_url, var_dir, sandbox_endpoints=False)
    live.clock = wgw.clock
    try:
        register(shop, receiver.url)  # registered in test mode, delivered by a production worker
        event_id = record_event(wgw, shop.id)
        assert drain(live) == 1
        (delivery,) = deliveries_of(shop, event_id)
        assert delivery["status"] == "pending" and "non-public address 127.0.0.1" in delivery["last_error"]
        assert receiver.snapshot() == []
    finally:
        receiver.stop()
        live.db.dispose()


def test_http_adapter_refuses_redirects_and_checks_tls():
    from gateway.adapters import webhook_http

    receiver = LocalReceiver(status=302).start()
    try:
        redirected = webhook_http.post(receiver.url, b"{}", {}, timeout=5, allow_private=True)
        assert redirected.status_code == 302 and "not followed" in redirected.error
        tls = webhook_http.post(receiver.url.replace("http://", "https://"), b"{}", {}, timeout=5, allow_private=True)
        assert tls.status_code is None and "SSL" in tls.error  # a plain-HTTP server is no TLS peer
        assert webhook_http.post(receiver.url, b"{}", {}, timeout=5).error.startswith("refused: 127.0.0.1")
    finally:
        receiver.stop()


def test_key_rotation_reencrypts_signing_secrets(own_database_url, tmp_path):
    from gateway.adapters.vault import DevKeyFile
    from gateway.bootstrap import Gateway
    from gateway.services.vault_rotation import reencrypt_all

    gw = make_gateway(own_database_url, tmp_path)
    created = webhooks.create_endpoint(gw, Shop(gw).id, "https://shop.example/hooks", ["*"])
    DevKeyFile(gw.settings.vault_key_file).add_key()
    rotated = Gateway.from_settings(gw.settings)
    try:
        assert reencrypt_all(rotated) == 1
        with rotated.db.unit_of_work() as session:
            endpoint = session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == created.endpoint.id)).scalar_one()
        assert endpoint.secret_ciphertext.startswith("v2.")
        assert webhooks.endpoint_secret(rotated, endpoint) == created.secret
    finally:
        gw.db.dispose()
        rotated.db.dispose()
