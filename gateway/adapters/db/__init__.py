"""The database: engines and units of work (engine.py), the tables (models.py and the *_models.py
beside it), the ledger repository, and the Alembic migrations (migrations/versions)."""
