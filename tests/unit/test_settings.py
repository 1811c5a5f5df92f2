"""Settings reach the use cases only through the composition root: what was read from the
environment is what a use case sees."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.config import Settings
from gateway.services import webhooks


@pytest.mark.parametrize(("sandbox", "raw", "allowed"), [
    ("1", None, True),  # test mode: a developer's local receiver works
    ("0", None, False),  # production: never an internal address by default
    ("0", "", False),
    ("0", "1", True),  # production, asked for
    ("1", "off", False),  # test mode, refused
])
def test_webhooks_go_to_private_addresses_only_in_test_mode_or_when_asked(monkeypatch, sandbox, raw, allowed):
    monkeypatch.setenv("PAYGATE_SANDBOX_ENDPOINTS", sandbox)
    if raw is None:
        monkeypatch.delenv("PAYGATE_WEBHOOK_ALLOW_PRIVATE_NETWORKS", raising=False)
    else:
        monkeypatch.setenv("PAYGATE_WEBHOOK_ALLOW_PRIVATE_NETWORKS", raw)
    assert webhooks.allow_private_networks(SimpleNamespace(settings=Settings.load())) is allowed


def test_the_webhook_queue_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PAYGATE_WEBHOOK_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("PAYGATE_WEBHOOK_BATCH", "40")
    settings = Settings.load()
    assert (settings.webhook_timeout_seconds, settings.webhook_batch) == (2.5, 40)
    assert (Settings().webhook_timeout_seconds, Settings().webhook_batch) == (10.0, 10)  # the documented defaults
