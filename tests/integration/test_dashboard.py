"""The dashboard's sign-in (rate limited, CSRF-protected), its scoping by merchant, its figures,
and `paygate user create`."""
from __future__ import annotations

import re
import uuid

import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.entrypoints.cli import main
from gateway.services import dashboard
from gateway.services.dashboard_users import MAX_FAILURES_PER_EMAIL, Role, create_user, get_user

PASSWORD = "a long enough password"


def csrf_token(client, path: str = "/dashboard/sign-in") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def user(gateway, role: Role = Role.OPERATOR, merchant_id: str | None = None) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    create_user(gateway, email, PASSWORD, role, merchant_id)
    return email


def test_sign_in_needs_the_csrf_token(gateway):
    client = create_app(gateway=gateway).test_client()
    email = user(gateway)
    assert client.post("/dashboard/sign-in", data={"email": email, "password": PASSWORD}).status_code == 400
    signed_in = client.post("/dashboard/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert signed_in.status_code == 303
    assert client.get("/dashboard/").status_code == 200


def test_failed_sign_ins_are_limited_per_email(gateway):
    client = create_app(gateway=gateway).test_client()
    email, token = user(gateway), csrf_token(client)
    for _ in range(MAX_FAILURES_PER_EMAIL):
        assert client.post("/dashboard/sign-in", data={"email": email, "password": "wrong", "csrf_token": token}).status_code == 401
    locked = client.post("/dashboard/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302  # still signed out
    other = client.post("/dashboard/sign-in", data={"email": user(gateway), "password": PASSWORD, "csrf_token": token})
    assert other.status_code == 303


def test_only_a_hash_of_the_password_is_kept(gateway):
    from gateway.adapters.db.web_models import DashboardUser
    from sqlalchemy import select

    email = user(gateway)
    with gateway.db.unit_of_work() as session:
        stored = session.execute(select(DashboardUser.password_hash).where(DashboardUser.email == email)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_merchant_sees_its_own_payments_an_operator_everyones(shop, other_shop):
    own, declined = shop.pay(amount=12_345), shop.pay(amount=500, last4="0002")
    foreign = other_shop.pay(amount=777)
    mine = [row.id for row in dashboard.payments_page(shop.gw, shop.id).rows]
    assert set(mine) == {own["id"], declined["id"]}
    everyone = dashboard.payments_page(shop.gw, None, search=foreign["id"]).rows
    assert [row.id for row in everyone] == [foreign["id"]]
    assert dashboard.payments_page(shop.gw, shop.id, search=foreign["id"]).rows == []
    with pytest.raises(Exception) as missing:
        dashboard.payment_detail(shop.gw, shop.id, foreign["id"])
    assert missing.value.code == "resource_missing"
    figures = dashboard.home(shop.gw, shop.id)
    assert (figures.today.payments, figures.today.succeeded, figures.today.failed, figures.today.volume) == (2, 1, 1, 12_345)
    assert figures.failure_reasons == [("insufficient_funds", 1)]
    assert len(figures.days) == 30 and figures.days[-1] == figures.today


def test_the_payment_list_pages_through_in_order(shop):
    made = [shop.pay(amount=100 + n)["id"] for n in range(dashboard.PAGE_SIZE + 3)]
    first = dashboard.payments_page(shop.gw, shop.id)
    second = dashboard.payments_page(shop.gw, shop.id, before=first.older)
    assert [row.id for row in first.rows] + [row.id for row in second.rows] == made[::-1]
    assert second.older is None
    back = dashboard.payments_page(shop.gw, shop.id, after=second.newer)
    assert [row.id for row in back.rows] == [row.id for row in first.rows]


def test_user_create_from_the_command_line(database_url, var_dir, shop):
    env = {"PAYGATE_DATABASE_URL": database_url, "PAYGATE_VAR_DIR": str(var_dir), "PAYGATE_USER_PASSWORD": PASSWORD}
    runner = CliRunner()
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    created = runner.invoke(main, ["user", "create", "--merchant", shop.id, "--role", "viewer", email], env=env)
    assert created.exit_code == 0, created.output
    user_id = created.output.split()[1]
    found = get_user(shop.gw, user_id)
    assert (found.email, found.role, found.merchant_id, found.may_refund) == (email, Role.MERCHANT_VIEWER, shop.id, False)
    both = runner.invoke(main, ["user", "create", "--operator", "--merchant", shop.id, email], env=env)
    assert both.exit_code != 0 and "exactly one" in both.output
    short = runner.invoke(main, ["user", "create", "--operator", "ops@example.com"], env={**env, "PAYGATE_USER_PASSWORD": "short"})
    assert short.exit_code != 0 and "at least 12 characters" in short.output


def test_serve_says_where_to_sign_in(monkeypatch):
    started = []
    monkeypatch.setattr("os.execvp", lambda program, argv: started.append(argv))
    result = CliRunner().invoke(main, ["serve", "--bind", "127.0.0.1:8123"])
    assert result.exit_code == 0, result.output
    assert "dashboard sign-in at http://127.0.0.1:8123/dashboard/sign-in" in result.output
    assert "gunicorn" in started[0]
