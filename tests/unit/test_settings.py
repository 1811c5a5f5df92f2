"""Settings come from PAYGATE_* variables (or overrides) once, in gateway.config; nothing else reads
the environment."""
from types import SimpleNamespace

import pytest

from gateway.config import Settings
from gateway.services.webhooks import allow_private_networks


@pytest.mark.parametrize("sandbox, raw, allowed", [
    (True, None, True),  # test mode: a developer's local receiver works
    (False, None, False),  # production: public addresses only
    (False, "", False),
    (False, "1", True),
    (True, "0", False),
    (True, "off", False),
])
def test_webhooks_go_to_private_networks_in_test_mode_or_when_asked(monkeypatch, sandbox, raw, allowed):
    monkeypatch.delenv("PAYGATE_WEBHOOK_ALLOW_PRIVATE_NETWORKS", raising=False)
    if raw is not None:
        monkeypatch.setenv("PAYGATE_WEBHOOK_ALLOW_PRIVATE_NETWORKS", raw)
    settings = Settings.load({"sandbox_endpoints": sandbox})
    assert allow_private_networks(SimpleNamespace(settings=settings)) is allowed


def test_webhook_worker_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PAYGATE_WEBHOOK_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("PAYGATE_WEBHOOK_BATCH", "40")
    settings = Settings.load()
    assert (settings.webhook_timeout_seconds, settings.webhook_batch) == (2.5, 40)
    monkeypatch.delenv("PAYGATE_WEBHOOK_TIMEOUT_SECONDS")
    monkeypatch.delenv("PAYGATE_WEBHOOK_BATCH")
    assert (Settings.load().webhook_timeout_seconds, Settings.load().webhook_batch) == (10.0, 10)
