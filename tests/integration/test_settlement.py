"""Daily settlement: per merchant, the Beijing day's captures, refunds and fees, equal to the
movement of the merchant's ledger balance over that day."""
from __future__ import annotations

import csv
import uuid
from datetime import date, datetime, time, timedelta, timezone

from click.testing import CliRunner
from sqlalchemy import select, text

from gateway.adapters.db.models import LedgerAccount
from gateway.entrypoints.cli import main
from gateway.services.ledger import verify
from gateway.services.settlement import BEIJING, CSV_COLUMNS, day_bounds, run, settle_day
from tests.integration.conftest import Shop, banking_hours_clock, make_gateway

DAY = date(2027, 3, 10)  # no other test books on this day


def beijing(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), BEIJING).astimezone(timezone.utc)


def pay(shop: Shop, amount: int, bank: str = "ICBC", last4: str = "4242", **extra) -> dict:
    body = {"amount": amount, "currency": "CNY", "payment_method": shop.token(last4, bank), "confirm": True, **extra}
    response = shop.post("/v1/payments", body, idempotency_key=str(uuid.uuid4()))
    assert response.status_code == 200, response.json
    return response.json


def refund(shop: Shop, payment: dict, amount: int) -> dict:
    response = shop.post("/v1/refunds", {"payment": payment["id"], "amount": amount})
    assert response.status_code == 200 and response.json["status"] == "succeeded", response.json
    return response.json


def _env(database_url, var_dir):
    return {"PAYGATE_DATABASE_URL": database_url, "PAYGATE_VAR_DIR": str(var_dir), "PAYGATE_VAULT_KEYS": ""}


def test_day_bounds_are_beijing_midnights():
    start, end = day_bounds(DAY)
    assert start == datetime(2027, 3, 9, 16, 0, tzinfo=timezone.utc)
    assert end - start == timedelta(days=1)


def test_settlement_equals_the_ledger_movement_of_a_beijing_day(database_url, var_dir, tmp_path):
    gw = make_gateway(database_url, var_dir)
    shop = Shop(gw)
    try:
        gw.clock = banking_hours_clock(beijing(DAY - timedelta(days=1), 15))
        yesterday = pay(shop, 50_000)
        opening = shop.balance()

        gw.clock = banking_hours_clock(beijing(DAY, 10))
        phone = pay(shop, 10_000)
        case = pay(shop, 25_000)
        case_refund = refund(shop, case, 5_000)
        yesterday_refund = refund(shop, yesterday, 20_000)  # a refund today of yesterday's payment
        held = pay(shop, 30_000, capture_method="manual")
        assert shop.post(f"/v1/payments/{held['id']}/capture", {"amount_to_capture": 20_000}).status_code == 200
        assert pay(shop, 500, last4="0002")["status"] == "failed"  # declined: moves nothing

        gw.clock = banking_hours_clock(beijing(DAY, 23, 59))  # 15:59 UTC: still DAY in Beijing
        late = pay(shop, 7_777, bank="BOCOM")
        closing = shop.balance()

        gw.clock = banking_hours_clock(beijing(DAY + timedelta(days=1), 0, 0, 30))  # 16:00 UTC, same UTC date
        next_day = pay(shop, 8_888, bank="BOCOM")
        late_refund = refund(shop, late, 1_000)
        next_closing = shop.balance()

        (settled,) = settle_day(gw, DAY, [shop.id])
        assert settled.ok, (settled.problems, settled.checks)
        rows = {(row.kind, row.reference): row for row in settled.rows}
        assert {key: (row.gross, row.fee, row.net) for key, row in rows.items()} == {
            ("capture", phone["id"]): (10_000, 60, 9_940),
            ("capture", case["id"]): (25_000, 150, 24_850),
            ("capture", held["id"]): (20_000, 120, 19_880),
            ("capture", late["id"]): (7_777, 47, 7_730),  # 46.662 fen rounds half up
            ("refund", case_refund["id"]): (-5_000, 0, -5_000),
            ("refund", yesterday_refund["id"]): (-20_000, 0, -20_000),
        }
        assert rows[("refund", yesterday_refund["id"])].payment == yesterday["id"]
        assert all(row.booked_at.astimezone(BEIJING).date() == DAY for row in settled.rows)
        check = settled.checks["CNY"]
        assert check.net == sum(row.net for row in settled.rows) == 37_400
        assert (check.opening, check.closing) == (opening, closing)  # what GET /v1/balance said then
        assert check.movement == closing - opening

        (following,) = settle_day(gw, DAY + timedelta(days=1), [shop.id])
        assert following.ok
        assert sorted((row.kind, row.reference, row.net) for row in following.rows) == sorted(
            [("capture", next_day["id"], 8_888 - 53), ("refund", late_refund["id"], -1_000)]
        )
        assert following.checks["CNY"].movement == next_closing - closing

        # The command: one CSV per merchant of the day, and ok
        out = tmp_path / "settlement"
        result = CliRunner().invoke(main, ["settlement", "run", "--date", DAY.isoformat(), "--out", str(out)], env=_env(database_url, var_dir))
        assert result.exit_code == 0, result.output
        assert f"ok       {shop.id} CNY rows=6 net=37400" in result.output
        with (out / f"settlement_{DAY.isoformat()}_{shop.id}.csv").open() as handle:
            lines = list(csv.DictReader(handle))
        assert list(lines[0]) == CSV_COLUMNS
        assert sum(int(line["net"]) for line in lines) == closing - opening
        assert all(int(line["gross"]) - int(line["fee"]) == int(line["net"]) for line in lines)
        assert all(line["booked_at"].startswith(DAY.isoformat()) and line["booked_at"].endswith("+08:00") for line in lines)
        assert {line["payment"] for line in lines if line["kind"] == "refund"} == {case["id"], yesterday["id"]}
        assert verify(gw).ok
    finally:
        gw.db.dispose()


def test_a_day_without_activity_and_a_mismatch(own_database_url, tmp_path):
    gw = make_gateway(own_database_url, tmp_path)
    try:
        env = _env(own_database_url, tmp_path)
        quiet = CliRunner().invoke(main, ["settlement", "run", "--date", DAY.isoformat(), "--out", str(tmp_path)], env=env)
        assert quiet.exit_code == 0 and "no merchant ledger activity" in quiet.output

        gw.clock = banking_hours_clock(beijing(DAY, 11))
        shop = Shop(gw)
        pay(shop, 10_000)
        assert run(gw, DAY, tmp_path)[0].ok
        with gw.db.unit_of_work() as session:
            payable = session.execute(select(LedgerAccount.id).where(LedgerAccount.code == f"merchant:{shop.id}:payable")).scalar_one()
            session.execute(text("UPDATE ledger_postings SET amount = amount - 1 WHERE account_id = :account"), {"account": payable})
        broken = CliRunner().invoke(main, ["settlement", "run", "--date", DAY.isoformat(), "--out", str(tmp_path)], env=env)
        assert broken.exit_code == 1
        assert f"MISMATCH {shop.id} CNY rows=1 net=9940" in broken.output
    finally:
        gw.db.dispose()
