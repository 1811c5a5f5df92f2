"""The credit score end to end, on its own database (its models and nightly job touch every
customer): simulate, train and promote through the CLI; profiles through the API with and
without device-usage consent; withdrawal and erasure; the scored limit at plan creation;
contests; the nightly job and telemetry retention; the bureau boundary."""
from __future__ import annotations

import dataclasses
import json
import re
import threading
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from gateway.adapters.db.credit_models import CreditBureauQuery, CreditFeatureRow, CreditScore, DeviceUsageDay
from gateway.adapters.db.device_models import Device, DeviceMessage
from gateway.adapters.db.installment_models import InstallmentPlan
from gateway.adapters.db.models import Event
from gateway.entrypoints.cli import main
from gateway.entrypoints.workers.runner import run
from gateway.services import credit_models
from gateway.services.credit_jobs import purge_old_telemetry, run_nightly
from tests.integration.conftest import Shop, fresh_database_url, make_gateway
from tests.support.devices import enrolled_device


@pytest.fixture(scope="module")
def credit_database_url(database_url, request, tmp_path_factory):
    return fresh_database_url(database_url, request, tmp_path_factory.mktemp("credit"))


def _cli(url, var_dir, *args):
    env = {"PAYGATE_DATABASE_URL": url, "PAYGATE_VAR_DIR": str(var_dir), "PAYGATE_VAULT_KEYS": ""}
    return CliRunner().invoke(main, ["credit", *args], env=env)


@pytest.fixture(scope="module")
def cgw(credit_database_url, var_dir):
    gw = make_gateway(credit_database_url, var_dir)
    assert _cli(credit_database_url, var_dir, "simulate", "--customers", "5000", "--seed", "3").exit_code == 0
    trained = _cli(credit_database_url, var_dir, "train", "--label-window", "6m")
    assert trained.exit_code == 0, trained.output
    versions = re.findall(r"^(\S+) (?:device\+repayment|repayment_only) candidate: AUC (\S+) KS \S+ Gini", trained.output, re.M)
    assert len(versions) == 2 and all(float(area) > 0.6 for _, area in versions), trained.output
    assert "PSI (training vs last 30 days)" in trained.output and "band " in trained.output
    for version, _ in versions:
        promoted = _cli(credit_database_url, var_dir, "promote", version)
        assert promoted.exit_code == 0 and f"{version} is live" in promoted.output, promoted.output
    yield gw
    gw.db.dispose()


@pytest.fixture
def cshop(cgw):
    return Shop(cgw)


def _consent(shop, customer_id, kind="device_usage"):
    response = shop.post(f"/v1/customers/{customer_id}/consents", {"kind": kind, "version": "2026-01", "purpose": "credit scoring"})
    assert response.status_code == 200, response.json


def _phone_with_history(shop, customer_id, days=40, start_days_ago=1):
    """A phone the customer owns with `days` days of telemetry ending yesterday."""
    device_id = enrolled_device(shop)
    now = shop.gw.clock()
    with shop.gw.db.unit_of_work() as session:
        session.get(Device, device_id).owner_customer_id = customer_id
        for seq, back in enumerate(range(start_days_ago + days - 1, start_days_ago - 1, -1), start=1):
            sent = now - timedelta(days=back)
            body = {"screen_seconds": 3_600 if back % 3 else 0, "app_sessions": 4, "data_bytes": 50_000_000, "battery_pct": 8 if back % 5 == 0 else 40,
                    "region": "CN-BJ"}
            session.add(DeviceMessage(device_id=device_id, seq=seq, kind="telemetry", sent_at=sent, received_at=sent, body=body))
    return device_id


def _rows(gw, model, customer_id):
    with gw.db.unit_of_work() as session:
        return list(session.execute(select(model).where(model.customer_id == customer_id)).scalars())


def test_models_are_listed_with_their_figures_and_which_is_live(cshop):
    models = cshop.get("/v1/credit_models").json["data"]
    live = {m["model"]: m for m in models if m["live"]}
    assert set(live) == {"device+repayment", "repayment_only"}
    for model in live.values():
        assert model["state"] == "live" and float(model["metrics"]["auc"]) > 0.6
        assert {"ks", "gini", "calibration", "psi", "holdout_from", "holdout_to"} <= set(model["metrics"])


def test_a_worse_model_is_not_promoted(cgw, credit_database_url, var_dir):
    live = next(m for m in credit_models.list_models(cgw) if m.model == "repayment_only" and m.state == "live")
    with cgw.db.unit_of_work() as session:
        from gateway.adapters.db.credit_models import CreditModelVersion

        table = json.loads(session.get(CreditModelVersion, live.version).points_table)
    for feature in table["features"]:  # the same bins, no information: every customer scores the same
        for entry in (*feature["bins"], feature["missing"]):
            entry["points"] = 0
    table["version"] = "ro-flat-01"
    credit_models.register(cgw, table, dict(live.metrics))
    refused = _cli(credit_database_url, var_dir, "promote", "ro-flat-01")
    assert refused.exit_code == 1 and "AUC 0.5000" in refused.output, refused.output
    states = {m.version: m.state for m in credit_models.list_models(cgw)}
    assert states["ro-flat-01"] == "candidate" and states[live.version] == "live"


def test_a_consenting_customer_is_scored_on_device_and_repayment_data(cshop):
    customer = cshop.customer()
    _consent(cshop, customer["id"])
    _phone_with_history(cshop, customer["id"])
    scored_before = _scores_counted("device+repayment")
    profile = cshop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh").json
    assert profile["model"] == "device+repayment" and 300 <= profile["score"] <= 850
    assert _scores_counted("device+repayment") == scored_before + 1  # paygate_credit_scores_total
    assert profile["model_version"].startswith("dr-")
    features = {f["name"]: f for f in profile["features"]}
    assert features["device_tenure_days"]["value"] == "40" and features["low_battery_day_share_30d"]["value"] == "0.20"
    assert features["on_time_share"]["value"] is None
    assert 1 <= len(profile["reasons"]) <= 4
    for reason in profile["reasons"]:
        assert reason["value"] == features[reason["code"]]["value"] and reason["text"]
    assert cshop.get(f"/v1/customers/{customer['id']}/credit_profile").json == profile
    assert not any("region" in name for name in features) and "CN-BJ" not in json.dumps(profile)


def test_without_consent_the_limit_comes_from_repayment_alone(cshop):
    customer = cshop.customer()
    _phone_with_history(cshop, customer["id"])  # kept from before, say: without consent it is not used
    never = cshop.get(f"/v1/customers/{customer['id']}/credit_profile").json
    assert never["score"] is None and never["installment_limit"] == cshop.gw.settings.installment_credit_limit
    profile = cshop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh").json
    assert profile["model"] == "repayment_only" and profile["score"] is not None and profile["installment_limit"] > 0
    assert {f["name"] for f in profile["features"]} == {"on_time_share", "worst_delinquency_days_6m", "outstanding_fen"}
    assert [row.feature_group for row in _rows(cshop.gw, CreditFeatureRow, customer["id"])] == ["repayment"]


def test_withdrawal_and_erasure_delete_device_features_and_scores(cshop):
    customer = cshop.customer()
    _consent(cshop, customer["id"])
    device_id = _phone_with_history(cshop, customer["id"])
    assert cshop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh").json["model"] == "device+repayment"
    assert {row.feature_group for row in _rows(cshop.gw, CreditFeatureRow, customer["id"])} == {"device", "repayment"}

    assert cshop.post(f"/v1/customers/{customer['id']}/consents/device_usage/withdraw").status_code == 200
    assert [row.feature_group for row in _rows(cshop.gw, CreditFeatureRow, customer["id"])] == ["repayment"]
    assert [score.model for score in _rows(cshop.gw, CreditScore, customer["id"])] == ["repayment_only"]  # rescored at once
    with cshop.gw.db.unit_of_work() as session:
        assert session.execute(select(func.count()).where(DeviceUsageDay.device_id == device_id)).scalar_one() == 0
        assert session.execute(select(func.count()).where(DeviceMessage.device_id == device_id, DeviceMessage.body.is_not(None))).scalar_one() == 0
    assert cshop.get(f"/v1/customers/{customer['id']}/credit_profile").json["model"] == "repayment_only"

    assert cshop.call("DELETE", f"/v1/customers/{customer['id']}").status_code == 200
    assert _rows(cshop.gw, CreditFeatureRow, customer["id"]) == [] and _rows(cshop.gw, CreditScore, customer["id"]) == []


def test_plan_creation_honours_the_scored_limit_and_a_change_is_an_event(cgw):
    small = dataclasses.replace(cgw, settings=dataclasses.replace(cgw.settings, credit_limit_policy="A:0:100000"))
    shop = Shop(small)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    profile = shop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh").json
    assert (profile["band"], profile["installment_limit"]) == ("A", 100_000)
    with small.db.unit_of_work() as session:
        event = session.execute(select(Event).where(Event.merchant_id == shop.id, Event.type == "credit.limit_changed")).scalar_one()
    assert (event.data["customer"], event.data["previous_limit"], event.data["installment_limit"]) == (customer["id"], 3_000_000, 100_000)

    product = shop.post("/v1/installment_products", {"name": "Phone", "terms": [6], "method": "equal_installment", "apr": "12",
                                                     "down_payment_share": "0.1"}).json
    plan = {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 6}
    over = shop.post("/v1/installment_plans", {**plan, "amount": 200_000}, idempotency_key=f"over-{customer['id']}")
    assert (over.status_code, over.json["error"]["code"]) == (402, "credit_limit_exceeded")
    within = shop.post("/v1/installment_plans", {**plan, "amount": 100_000}, idempotency_key=f"within-{customer['id']}")
    assert within.status_code == 200, within.json


def test_a_contest_is_opened_by_the_customer_and_resolved_by_an_operator(cshop, credit_database_url, var_dir):
    customer = cshop.customer()
    cshop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh")
    bad = cshop.post(f"/v1/customers/{customer['id']}/credit_profile/contests", {})
    assert bad.status_code == 400
    contest = cshop.post(f"/v1/customers/{customer['id']}/credit_profile/contests", {"reason": "I paid every installment on time"}).json
    assert contest["state"] == "open" and contest["score"] is not None and contest["model_version"].startswith("ro-")
    listed = _cli(credit_database_url, var_dir, "contests")
    assert contest["id"] in listed.output and "I paid every installment on time" in listed.output
    resolved = _cli(credit_database_url, var_dir, "contests", "resolve", contest["id"], "--decision", "upheld", "--note", "records checked")
    assert resolved.exit_code == 0 and f"{contest['id']} upheld" in resolved.output
    assert contest["id"] not in _cli(credit_database_url, var_dir, "contests").output
    again = _cli(credit_database_url, var_dir, "contests", "resolve", contest["id"], "--decision", "corrected", "--note", "x")
    assert again.exit_code == 1


def test_another_merchant_sees_no_profile(cshop, cgw):
    customer = cshop.customer()
    stranger = Shop(cgw, "Stranger")
    assert stranger.get(f"/v1/customers/{customer['id']}/credit_profile").status_code == 404
    assert stranger.post(f"/v1/customers/{customer['id']}/credit_profile/refresh").status_code == 404


def test_the_nightly_job_runs_once_a_day_and_old_telemetry_goes_once_aggregated(cshop):
    customer = cshop.customer()
    _consent(cshop, customer["id"])
    device_id = _phone_with_history(cshop, customer["id"], days=120)
    assert run(cshop.gw, ["credit"], once=True) >= 1
    assert run(cshop.gw, ["credit"], once=True) == 0  # today's run is done
    assert cshop.get(f"/v1/customers/{customer['id']}/credit_profile").json["model"] == "device+repayment"
    cutoff = cshop.gw.clock() - timedelta(days=cshop.gw.settings.telemetry_retention_days)
    with cshop.gw.db.unit_of_work() as session:
        aggregated = session.execute(select(func.count()).where(DeviceUsageDay.device_id == device_id)).scalar_one()
        old = select(func.count()).where(DeviceMessage.device_id == device_id, DeviceMessage.sent_at < cutoff)
        assert aggregated == 120 and session.execute(old).scalar_one() > 0
        day = session.execute(select(DeviceUsageDay).where(DeviceUsageDay.device_id == device_id).limit(1)).scalar_one()
        assert "regions" not in day.usage
    assert run(cshop.gw, ["maintenance"], once=True) > 0
    assert purge_old_telemetry(cshop.gw) == 0  # once a day
    with cshop.gw.db.unit_of_work() as session:
        assert session.execute(old).scalar_one() == 0
        assert session.execute(select(func.count()).where(DeviceMessage.device_id == device_id)).scalar_one() > 0  # recent kept
        assert session.execute(select(func.count()).where(DeviceUsageDay.device_id == device_id)).scalar_one() == 120


def test_the_bureau_is_asked_only_with_its_consent_and_every_query_is_logged(cshop):
    customer = cshop.customer()
    ask = lambda: cshop.post(f"/v1/customers/{customer['id']}/bureau_reports", {"purpose": "installment_application"})  # noqa: E731
    refused = ask()
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "consent_required")
    _consent(cshop, customer["id"], "credit_bureau")
    cshop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh")
    report = ask()
    assert report.status_code == 200 and report.json["bureau"] == "baihang_like"
    sent = cshop.gw.credit_bureau.received[-1]
    assert sent.query_id == report.json["id"] and set(vars(sent)) == {"query_id", "name", "id_number", "purpose"}
    assert [q.purpose for q in _rows(cshop.gw, CreditBureauQuery, customer["id"])] == ["installment_application"]
    assert cshop.post(f"/v1/customers/{customer['id']}/bureau_reports", {"purpose": "marketing"}).status_code == 400


@pytest.mark.postgres_only
def test_two_workers_run_the_nightly_job_once(cgw):
    later = dataclasses.replace(cgw, connectors={}, clock=lambda: cgw.clock() + timedelta(days=3))
    shop = Shop(later)
    customer = shop.customer()
    barrier = threading.Barrier(2)
    results: list[int] = []

    def worker() -> None:
        barrier.wait()
        results.append(run_nightly(later))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results)[0] == 0 and sorted(results)[1] >= 1  # one of them scored, the other found the day taken
    day_start = later.clock() - timedelta(hours=1)
    with later.db.unit_of_work() as session:
        scores = session.execute(select(func.count()).where(CreditScore.customer_id == customer["id"], CreditScore.computed_at >= day_start)).scalar_one()
    assert scores == 1


def test_two_live_versions_of_one_model_cannot_exist(cgw):
    from sqlalchemy.exc import IntegrityError

    from gateway.adapters.db.credit_models import CreditModelVersion

    with pytest.raises(IntegrityError):
        with cgw.db.unit_of_work() as session:
            live = session.execute(select(CreditModelVersion).where(CreditModelVersion.model == "repayment_only", CreditModelVersion.state == "live")).scalar_one()
            session.add(CreditModelVersion(version="ro-second-live", model="repayment_only", state="live", points_table=live.points_table,
                                           metrics={}, trained_at=cgw.clock()))


def test_each_plan_becomes_a_training_example_and_its_default_its_label(cgw):
    from gateway.adapters.db.credit_models import CreditObservation

    def days_later(days: int):
        return dataclasses.replace(cgw, connectors={}, clock=lambda: cgw.clock() + timedelta(days=days))

    shop = Shop(cgw)
    customer = shop.customer()
    _consent(shop, customer["id"])
    card = shop.saved_card(customer["id"])
    product = shop.post("/v1/installment_products", {"name": "Phone", "terms": [6], "method": "equal_installment", "apr": "12"}).json
    plan = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 6,
                                               "amount": 60_000}, idempotency_key=f"plan-{customer['id']}").json
    assert plan["state"] == "active"
    run_nightly(days_later(5))

    def observation():
        with cgw.db.unit_of_work() as session:
            return session.execute(select(CreditObservation).where(CreditObservation.plan_id == plan["id"])).scalar_one()

    recorded = observation()
    with cgw.db.unit_of_work() as session:
        started = session.execute(select(InstallmentPlan.start_date).where(InstallmentPlan.id == plan["id"])).scalar_one()
    assert (recorded.source, recorded.subject, recorded.observed_on, recorded.defaulted_on) == ("platform", customer["id"], started, None)
    assert set(recorded.repayment_features) == {"on_time_share", "worst_delinquency_days_6m", "outstanding_fen"}
    first_due = date.fromisoformat(plan["schedule"][0]["due_date"])
    run_nightly(days_later((first_due - days_later(0).clock().date()).days + 31))  # never collected: 30+ days past due
    assert observation().defaulted_on == first_due + timedelta(days=30)


def test_sandbox_usage_history_needs_an_owner_who_consented(cshop):
    customer = cshop.customer()
    loose = enrolled_device(cshop)
    load = lambda device: cshop.post(f"/v1/sandbox/devices/{device}/usage_history", {"days": 120, "profile": "steady"})  # noqa: E731
    assert (load(loose).status_code, load(loose).json["error"]["code"]) == (409, "device_not_owned")
    phone = _phone_with_history(cshop, customer["id"], days=1)
    assert (load(phone).status_code, load(phone).json["error"]["code"]) == (403, "consent_required")
    _consent(cshop, customer["id"])
    assert load(phone).json == {"object": "sandbox_usage_history", "device": phone, "days": 120}
    profile = cshop.post(f"/v1/customers/{customer['id']}/credit_profile/refresh").json
    features = {f["name"]: f["value"] for f in profile["features"]}
    assert profile["model"] == "device+repayment" and features["device_tenure_days"] == "120"
    assert float(features["active_day_share_30d"]) > 0.8


def _scores_counted(model: str) -> float:
    """paygate_credit_scores_total for the model, all bands."""
    return sum(sample.value for metric in REGISTRY.collect() if metric.name == "paygate_credit_scores"
               for sample in metric.samples if sample.name.endswith("_total") and sample.labels["model"] == model)
