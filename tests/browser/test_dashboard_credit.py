"""The dashboard's credit page: the band policy in force, the customers per band by their latest
score, and (operators only) the open contests and the model versions."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from playwright.sync_api import expect

from gateway.adapters.db.credit_models import CreditModelVersion, CreditScore
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.services.credit import limit_policy
from gateway.services.dashboard_users import Role, create_user
from gateway.services.merchants import create_merchant
from tests.browser.conftest import PASSWORD, Merchant, sign_in, unlabelled_inputs

pytestmark = pytest.mark.browser

BANDS = {"A": "CNY 50,000.00", "B": "CNY 30,000.00", "C": "CNY 15,000.00", "D": "CNY 8,000.00", "E": "CNY 3,000.00"}
LIVE, CANDIDATE = f"dr-browser-{uuid.uuid4().hex[:6]}", f"ro-browser-{uuid.uuid4().hex[:6]}"
_order = iter(range(400, 999))


def _customer(shop: Merchant) -> str:
    birth = date(1980 + next(_order) % 20, 5, 17)
    body = {"name": "Wang Fang", "mobile": "13800138000", "id_number": sandbox_id_number(birth, order=next(_order)),
            "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}}
    return shop.ok("POST", "/v1/customers", body)["id"]


def _score(gw, customer_id: str, score: int) -> None:
    band = limit_policy(gw).band_for(score)
    with gw.db.unit_of_work() as session:
        session.add(CreditScore(customer_id=customer_id, model_version=LIVE, model="device+repayment", score=score, band=band.name,
                                installment_limit=band.limit, assessment=json.dumps({"reasons": [], "features": []}), computed_at=gw.clock()))


def _counts(page) -> dict[str, int]:
    rows = page.locator("#bands tbody tr")
    expect(rows.first).to_be_visible()
    return {row.get_attribute("data-band"): int(row.locator("td.customers").inner_text().replace(",", "")) for row in rows.all()}


def _as(page, site, role: str) -> dict[str, int]:
    page.context.clear_cookies()
    sign_in(page, site, role)
    page.get_by_role("link", name="Credit", exact=True).click()
    expect(page.get_by_role("heading", name="Credit score bands")).to_be_visible()
    return _counts(page)


def test_the_credit_page_shows_bands_limits_and_counts_and_only_operators_see_contests_and_models(site, desktop, screenshots):
    gw = site.gw
    before_viewer, before_operator = _as(desktop, site, "merchant_viewer"), _as(desktop, site, "operator")
    # A merchant with customers but no score: a sentence, not an empty chart.
    empty = Merchant(site.base_url, create_merchant(gw, "Unscored Shop"))
    _customer(empty)
    create_user(gw, "viewer@unscored.example.com", PASSWORD, Role.MERCHANT_VIEWER, empty.id)
    site.users["unscored_viewer"] = "viewer@unscored.example.com"

    live_before = _live_model(gw)
    with gw.db.unit_of_work() as session:
        session.add(CreditModelVersion(version=LIVE, model="device+repayment", state="candidate", points_table="{}",
                                       metrics={"auc": "0.781"}, trained_at=gw.clock()))
        session.add(CreditModelVersion(version=CANDIDATE, model="repayment_only", state="candidate", points_table="{}",
                                       metrics={"auc": "0.702"}, trained_at=gw.clock()))
    try:
        if live_before is None:  # live only for this test: nothing else in the session is scored meanwhile
            _set_state(gw, LIVE, "live")
        mine = [_customer(site.merchant) for _ in range(5)]
        _score(gw, mine[0], 700)  # A
        _score(gw, mine[1], 712)  # A
        _score(gw, mine[2], 640)  # B
        _score(gw, mine[3], 700)  # A at first ...
        _score(gw, mine[3], 590)  # ... C now: the latest score counts
        # mine[4]: registered, never scored
        theirs = [_customer(site.other) for _ in range(3)]
        _score(gw, theirs[0], 690)  # A
        _score(gw, theirs[1], 545)  # D
        reason = f"My repayments were all on time ({uuid.uuid4().hex[:6]})"
        site.merchant.ok("POST", f"/v1/customers/{mine[2]}/credit_profile/contests", {"reason": reason})

        viewer = _as(desktop, site, "merchant_viewer")
        assert viewer == {**before_viewer, "A": before_viewer["A"] + 2, "B": before_viewer["B"] + 1, "C": before_viewer["C"] + 1,
                          "not-scored": before_viewer["not-scored"] + 1}
        for name, limit in BANDS.items():
            expect(desktop.locator(f"#bands tr[data-band='{name}'] td.limit")).to_have_text(limit)
        expect(desktop.locator("#bands tr[data-band='A'] td.lowest")).to_have_text("660")
        expect(desktop.locator("#bands tr[data-band='E'] td.lowest")).to_have_text("0")
        expect(desktop.locator("#not-scored-count")).to_have_text(str(viewer["not-scored"]))
        expect(desktop.locator("canvas[data-chart='bands-chart']")).to_have_attribute("aria-label", "Customers per credit band, by their latest score, and customers not scored")
        chart = json.loads(desktop.locator("script#bands-chart").inner_text())
        assert chart["data"]["datasets"][0]["data"] == [viewer[name] for name in BANDS] + [viewer["not-scored"]]
        # Operators' part, not the viewer's.
        expect(desktop.locator("#operator-part")).to_have_count(0)
        expect(desktop.get_by_text(reason)).to_have_count(0)
        expect(desktop.get_by_text(LIVE)).to_have_count(0)
        assert unlabelled_inputs(desktop) == []

        operator = _as(desktop, site, "operator")
        assert operator == {**before_operator, "A": before_operator["A"] + 3, "B": before_operator["B"] + 1, "C": before_operator["C"] + 1,
                            "D": before_operator["D"] + 1, "not-scored": before_operator["not-scored"] + 3}
        contest = desktop.locator("#contests tbody tr").filter(has_text=reason)
        expect(contest).to_have_count(1)
        expect(contest).to_contain_text(mine[2])
        expect(contest).to_contain_text("Demo Phone Shop")
        expect(contest.locator("td").nth(3)).to_contain_text("Beijing time")
        expect(desktop.locator(f"#models tr[data-version='{CANDIDATE}'] td.auc")).to_have_text("0.702")
        expect(desktop.locator(f"#models tr[data-version='{CANDIDATE}'] td.state")).to_have_text("candidate")
        expect(desktop.locator(f"#models tr[data-version='{LIVE}'] td.auc")).to_have_text("0.781")
        if live_before is None:
            expect(desktop.locator(f"#models tr[data-version='{LIVE}'] td.state")).to_have_text("live")
        screenshots(desktop, "dashboard-credit")

        _as(desktop, site, "unscored_viewer")
        expect(desktop.locator("#none-scored")).to_have_text("No customer has been scored yet: every customer keeps the fallback limit of CNY 30,000.00.")
        expect(desktop.locator("canvas[data-chart='bands-chart']")).to_have_count(0)
        expect(desktop.locator("#not-scored-count")).to_have_text("1")
    finally:
        _set_state(gw, LIVE, "retired")


def _live_model(gw) -> str | None:
    from sqlalchemy import select

    with gw.db.unit_of_work() as session:
        return session.execute(select(CreditModelVersion.version).where(CreditModelVersion.model == "device+repayment",
                                                                         CreditModelVersion.state == "live")).scalar_one_or_none()


def _set_state(gw, version: str, state: str) -> None:
    with gw.db.unit_of_work() as session:
        session.get(CreditModelVersion, version).state = state
