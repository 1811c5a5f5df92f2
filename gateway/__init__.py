"""paygate: a payment, installment and device-credit gateway.

The layers (README "Layout"): domain/ pure rules, services/ use cases, adapters/ the outside world
(database, banks and wallets, MQTT, vault, PKI), entrypoints/ what drives the use cases (HTTP API,
CLI, MQTT ingest and command relay, workers), sdk/ what merchants' code uses, demo/ the demo.
bootstrap.py builds everything once per process from config.Settings; app.py is the Flask app."""
