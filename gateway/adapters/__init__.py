"""The outside world behind the use cases: db (models, repositories, Alembic migrations),
connectors (one module per bank family or wallet), mqtt client, vault (keys and sealing), pki
(device certificates), signatures and webhook HTTP. Adapters import no services or entry points."""
