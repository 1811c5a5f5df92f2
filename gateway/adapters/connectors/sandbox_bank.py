"""A sandbox acquirer that behaves like a real one: it takes time to answer, declines some cards
and sometimes does not answer at all. Outcomes are chosen by the card's last four digits."""
from __future__ import annotations

import time

from gateway.adapters.connectors.base import ChargeRequest, ConnectorResult, Outcome
from gateway.domain.ids import new_id

# last4 -> (outcome, decline code). Any other Luhn-valid card of a supported bank is approved.
TEST_CARD_OUTCOMES = {
    "0002": (Outcome.DECLINED, "insufficient_funds"),
    "0069": (Outcome.DECLINED, "expired_card"),
    "0119": (Outcome.UNKNOWN, None),
}

DECLINE_MESSAGES = {
    "insufficient_funds": "The card has insufficient funds to complete the purchase.",
    "expired_card": "The bank reports the card as expired.",
}


class SandboxBank:
    name = "sandbox_bank"

    def __init__(self, latency_ms: int = 20) -> None:
        self.latency_s = latency_ms / 1000

    def authorize(self, request: ChargeRequest) -> ConnectorResult:
        self._wait()
        outcome, code = TEST_CARD_OUTCOMES.get(request.card.pan[-4:], (Outcome.APPROVED, None))
        if outcome is Outcome.UNKNOWN:
            return ConnectorResult(Outcome.UNKNOWN, message="The bank did not answer in time.")
        if outcome is Outcome.DECLINED:
            return ConnectorResult(Outcome.DECLINED, new_id("sbx"), code, DECLINE_MESSAGES[code])
        return ConnectorResult(Outcome.APPROVED, new_id("sbx"))

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult:
        self._wait()
        return ConnectorResult(Outcome.APPROVED, reference)

    def void(self, reference: str) -> ConnectorResult:
        self._wait()
        return ConnectorResult(Outcome.APPROVED, reference)

    def refund(self, reference: str, refund_id: str, amount: int, currency: str) -> ConnectorResult:
        self._wait()
        return ConnectorResult(Outcome.APPROVED, new_id("sbxr"))

    def _wait(self) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
