"""The demo's fund part, through the SDK against an app in test mode on a database of its own
(the part moves the sandbox clock forward, which would move every other test's time too)."""
from __future__ import annotations

from gateway.adapters.db.schema import upgrade
from gateway.demo.fund import fund_part
from gateway.services.ledger import verify
from tests.integration.conftest import Shop, make_gateway


def test_the_fund_demo_part(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    gw = make_gateway(url, tmp_path)
    lines: list[str] = []
    try:
        fund_part(Shop(gw, "Demo Fund Seller").sdk, lines.append)
        books = verify(gw)
    finally:
        gw.db.dispose()
    text = "\n".join(lines)
    print(text)
    assert "after the cut-off" in text and "confirmed," in text
    assert "installment 1" in text and "paid from" in text
    assert "fast_redemption_cap_exceeded" in text
    assert "normal redemption paid" in text
    table = lines[lines.index(next(line for line in lines if "7-day yield" in line)) + 1:]
    assert len(table) == 10 and all(" %" in row for row in table)
    assert books.ok, books.problems
