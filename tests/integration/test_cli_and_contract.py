"""The operator's commands, the OpenAPI contract, health and the migrations."""
from __future__ import annotations

import json
import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text

from gateway.adapters.db.models import Base, LedgerAccount
from gateway.app import create_app
from gateway.entrypoints.cli import main
from gateway.services.ledger import verify
from gateway.web import PAGE_BLUEPRINTS
from tests.integration.conftest import Shop, make_gateway


def _env(database_url, var_dir):
    return {"PAYGATE_DATABASE_URL": database_url, "PAYGATE_VAR_DIR": str(var_dir), "PAYGATE_VAULT_KEYS": ""}


def test_merchant_create_prints_keys_that_work(database_url, var_dir, gateway):
    result = CliRunner().invoke(main, ["merchant", "create", "Cli Shop"], env=_env(database_url, var_dir))
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["id"].startswith("mch_")
    assert created["secret_key"].startswith("sk_test_") and created["publishable_key"].startswith("pk_test_")
    client = create_app(gateway=gateway).test_client()
    assert client.get("/v1/balance", headers={"Authorization": f"Bearer {created['secret_key']}"}).status_code == 200


def test_ledger_verify_passes_then_catches_a_tampered_balance(own_database_url, tmp_path):
    gw = make_gateway(own_database_url, tmp_path)
    shop = Shop(gw)
    shop.pay(10_000)
    env = _env(own_database_url, tmp_path)

    ok = CliRunner().invoke(main, ["ledger", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "ledger ok" in ok.output

    with gw.db.unit_of_work() as session:
        session.query(LedgerAccount).filter(LedgerAccount.code.like("merchant:%")).update({LedgerAccount.balance: LedgerAccount.balance - 1})
    broken = CliRunner().invoke(main, ["ledger", "verify"], env=env)
    assert broken.exit_code == 1
    assert "balance" in broken.output and "postings sum to" in broken.output
    assert not verify(gw).ok


def test_ledger_verify_catches_an_unbalanced_transaction(own_database_url, tmp_path):
    gw = make_gateway(own_database_url, tmp_path)
    Shop(gw).pay(10_000)
    with gw.db.unit_of_work() as session:
        session.execute(text("UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM ledger_postings)"))
    problems = verify(gw).problems
    assert any("does not balance" in problem for problem in problems)


def test_openapi_documents_every_route(gateway):
    app = create_app(gateway=gateway)
    spec = app.test_client().get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",) or rule.rule.startswith("/openapi") or rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    create = spec["paths"]["/v1/payments"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "amount" in spec["components"]["schemas"]["PaymentCreate"]["required"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_healthz_reports_database(gateway, tmp_path):
    assert create_app(gateway=gateway).test_client().get("/healthz").json == {"status": "ok", "database": "reachable"}
    down = make_gateway("postgresql://postgres@127.0.0.1:1/none", tmp_path)
    response = create_app(gateway=down).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_migrations_match_the_models(gateway):
    with gateway.db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert differences == []


def _unpost(gw, reference: str) -> None:
    """Remove a ledger transaction and its effect on balances (to replay a crash in tests)."""
    from sqlalchemy import delete, select, update

    from gateway.adapters.db.models import LedgerPosting, LedgerTransaction

    with gw.db.unit_of_work() as session:
        transaction = session.execute(select(LedgerTransaction).where(LedgerTransaction.reference == reference)).scalar_one()
        for posting in session.execute(select(LedgerPosting).where(LedgerPosting.transaction_id == transaction.id)).scalars():
            session.execute(update(LedgerAccount).where(LedgerAccount.id == posting.account_id).values(balance=LedgerAccount.balance - posting.amount))
        session.execute(delete(LedgerPosting).where(LedgerPosting.transaction_id == transaction.id))
        session.delete(transaction)
