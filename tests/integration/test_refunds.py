from __future__ import annotations


def test_partial_refunds_up_to_the_captured_total_never_more(shop):
    payment = shop.pay(10_000)

    first = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 3_000})
    second = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 7_000})
    third = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 1})

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 400
    assert third.json["error"]["code"] == "charge_already_refunded"
    assert shop.get(f"/v1/payments/{payment['id']}").json["amount_refunded"] == 10_000
    # The fee stays taken: the merchant has paid back all 100.00 it received net of 0.60.
    assert shop.balance() == -60


def test_refund_over_the_remaining_amount_is_refused_and_changes_nothing(shop):
    payment = shop.pay(10_000)
    shop.post("/v1/refunds", {"payment": payment["id"], "amount": 4_000})

    response = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 6_001})

    assert response.status_code == 400
    assert response.json["error"]["param"] == "amount"
    assert shop.get(f"/v1/payments/{payment['id']}").json["amount_refunded"] == 4_000
    assert shop.balance() == 10_000 - 60 - 4_000


def test_refund_without_amount_refunds_the_rest(shop):
    payment = shop.pay(10_000)
    shop.post("/v1/refunds", {"payment": payment["id"], "amount": 2_500})
    rest = shop.post("/v1/refunds", {"payment": payment["id"]}).json
    assert (rest["amount"], rest["status"]) == (7_500, "succeeded")
    assert shop.get(f"/v1/refunds/{rest['id']}").json["payment"] == payment["id"]


def test_only_succeeded_payments_are_refundable(shop):
    for payment in (shop.pay(1_000, "0002"), shop.pay(1_000, capture_method="manual"), shop.pay(1_000, "0119")):
        response = shop.post("/v1/refunds", {"payment": payment["id"]})
        assert response.status_code == 409, payment["status"]
        assert response.json["error"]["code"] == "payment_not_refundable"


def test_a_partly_captured_payment_refunds_only_what_was_captured(shop):
    held = shop.pay(10_000, capture_method="manual")
    shop.post(f"/v1/payments/{held['id']}/capture", {"amount_to_capture": 6_000})
    response = shop.post("/v1/refunds", {"payment": held["id"], "amount": 6_001})
    assert response.status_code == 400
    assert shop.post("/v1/refunds", {"payment": held["id"]}).json["amount"] == 6_000
