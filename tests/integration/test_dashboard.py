"""The dashboard's sign-in (rate limited, CSRF-protected), its scoping by merchant, its figures,
and `paygate user create`."""
from __future__ import annotations

import dataclasses
import re
import uuid

import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.entrypoints.cli import main
from gateway.services import dashboard
from gateway.services.dashboard_users import Role, create_user, get_user
from tests.support import services

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


@pytest.fixture(params=["memory", "redis"])
def limited_gateway(request, gateway):
    """Sign-in limits small enough to reach, counted in memory or in Redis (a namespace of its own)."""
    redis_url = services.ensure_redis(request.addfinalizer) if request.param == "redis" else ""
    settings = dataclasses.replace(gateway.settings, redis_url=redis_url, rate_limit_namespace=f"test-{uuid.uuid4().hex}",
                                   rate_limit_sign_in_per_account="3 per 15 minutes", rate_limit_sign_in_per_address="5 per 15 minutes")
    return dataclasses.replace(gateway, settings=settings)


def _sign_in(client, email: str, password: str, address: str = "127.0.0.1"):
    token = csrf_token(client)
    return client.post("/dashboard/sign-in", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def _assert_refused(response):
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert "Too many failed sign-ins" in page and "Wait 15 minutes" in page


def test_failed_sign_ins_are_limited_per_account(limited_gateway):
    client = create_app(gateway=limited_gateway).test_client()
    email = user(limited_gateway)
    for attempt in range(3):  # from three addresses: the account is what is limited
        assert _sign_in(client, email, "wrong", f"10.0.0.{attempt}").status_code == 401
    _assert_refused(_sign_in(client, email, PASSWORD, "10.0.1.1"))  # even the right password waits
    assert client.get("/dashboard/").status_code == 302  # still signed out
    assert _sign_in(client, user(limited_gateway), PASSWORD, "10.0.1.1").status_code == 303  # another account is not slowed


def test_failed_sign_ins_are_limited_per_address(limited_gateway):
    client = create_app(gateway=limited_gateway).test_client()
    for _ in range(5):  # a different account each time, all from one address
        assert _sign_in(client, user(limited_gateway), "wrong", "10.0.0.9").status_code == 401
    _assert_refused(_sign_in(client, user(limited_gateway), PASSWORD, "10.0.0.9"))
    assert _sign_in(client, user(limited_gateway), PASSWORD, "10.0.0.10").status_code == 303


def test_successful_sign_ins_do_not_count(limited_gateway):
    client = create_app(gateway=limited_gateway).test_client()
    email = user(limited_gateway)
    for _ in range(6):
        assert _sign_in(client, email, PASSWORD).status_code == 303
        client.post("/dashboard/sign-out", data={"csrf_token": csrf_token(client, "/dashboard/")})


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

