"""No card number or CVV in clear anywhere: database tables, the SQLite file, logs. Key rotation."""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from sqlalchemy import inspect, select, text

from gateway.adapters.db.models import CardToken
from gateway.adapters.vault import DevKeyFile
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.bootstrap import Gateway
from gateway.services.tokens import card_details
from gateway.services.vault_rotation import reencrypt_all
from tests.integration.conftest import Shop, make_gateway

CVV = "739"


def _all_table_text(gw) -> str:
    dump = []
    with gw.db.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                dump.append(repr(tuple(row)))
    return "\n".join(dump)


def test_no_card_number_or_cvv_in_tables_files_or_logs(database_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    gw = make_gateway(database_url, tmp_path)
    shop = Shop(gw)
    pans = [sandbox_card_number(bank, last4) for bank, last4 in (("ICBC", "4242"), ("CMB", "0002"), ("CCB", "0119"))]
    for pan in pans:
        token = shop.post("/v1/tokens", {"card_number": pan, "holder_name": "Wang Fang", "exp_month": 6, "exp_year": 2032, "cvv": CVV}, key=shop.merchant.publishable_key).json
        assert pan not in repr(token)
        payment = shop.post("/v1/payments", {"amount": 2_000, "currency": "CNY", "payment_method": token["id"], "confirm": True}).json
        if payment["status"] == "succeeded":
            shop.post("/v1/refunds", {"payment": payment["id"], "amount": 500})
    id_number = sandbox_id_number(date(1993, 3, 3))
    customer = shop.post("/v1/customers", {"name": "Wang Fang", "mobile": "13700137000", "id_number": id_number, "identity_consent": {"version": "v1", "purpose": "real-name"}}).json
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "v1", "purpose": "cards"})
    saved_pan = sandbox_card_number("SPDB", "6464")
    binding = shop.post(f"/v1/customers/{customer['id']}/cards", {"card_number": saved_pan, "exp_month": 1, "exp_year": 2033, "cvv": CVV}).json
    shop.post(f"/v1/customers/{customer['id']}/cards/{binding['id']}/verify", {"code": shop.sms_code(binding["id"])})
    shop.pay_saved(binding["id"], 3_000)
    pans.append(saved_pan)
    gw.db.dispose()

    tables = _all_table_text(gw)
    logs = caplog.text
    files = b""
    if database_url.startswith("sqlite"):
        db_file = Path(database_url.removeprefix("sqlite:///"))
        files = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    for pan in pans:
        assert pan not in tables and pan not in logs and pan.encode() not in files
        assert pan[:6] + pan[-4:] not in tables  # not even unmasked fragments joined together
    assert "Wang Fang" not in tables  # holder and customer names are encrypted
    assert id_number not in tables and id_number not in logs and id_number.encode() not in files
    assert "13700137000" not in tables and "13700137000" not in logs
    assert f"'{CVV}'" not in tables and f'"{CVV}"' not in logs
    assert "card_ciphertext" in str(inspect(gw.db.engine).get_columns("card_tokens"))


def test_rotation_reencrypts_every_card_and_old_cards_still_pay(own_database_url, tmp_path):
    gw = make_gateway(own_database_url, tmp_path)
    shop = Shop(gw)
    tokens = [shop.token(last4) for last4 in ("4242", "5556", "1881")]
    customer = shop.customer()
    saved = shop.saved_card(customer["id"], "CCB")
    from gateway.services import device_credit
    from tests.support.devices import enrolled_device

    device_id = enrolled_device(shop)
    with gw.db.unit_of_work() as session:
        device_credit.provision(gw, session, device_id)

    DevKeyFile(gw.settings.vault_key_file).add_key()
    rotated = Gateway.from_settings(gw.settings)
    assert rotated.vault.active == "v2"
    assert reencrypt_all(rotated) == 5  # three tokens, one customer's data key, one device secret
    assert reencrypt_all(rotated) == 0

    with rotated.db.unit_of_work() as session:
        rows = session.execute(select(CardToken).where(CardToken.id.in_(tokens))).scalars().all()
        assert all(row.card_ciphertext.startswith("v2.") for row in rows)
        assert {card_details(rotated, row).pan[-4:] for row in rows} == {"4242", "5556", "1881"}
    paid = Shop(rotated, merchant=shop.merchant).post("/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": tokens[0], "confirm": True}).json
    assert paid["status"] == "succeeded"
    rotated_shop = Shop(rotated, merchant=shop.merchant)
    assert rotated_shop.get(f"/v1/customers/{customer['id']}").json["name"] == "W********"  # masked, but read through the re-wrapped key
    assert rotated_shop.pay_saved(saved["id"]).json["status"] == "succeeded"
    assert rotated_shop.post(f"/v1/devices/{device_id}/release", {}).json["kind"] == "disable_payg"
