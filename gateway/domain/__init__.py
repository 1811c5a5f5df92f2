"""Pure rules, with doctests: money and fees (money), ID and card checks (identity, cards, banks),
ids and secrets (ids), ledger postings (ledger), the payment state table (payments), installment
schedules and collection (installments), webhook retries (webhooks), device messages (devices),
consents, errors. No Flask, no SQLAlchemy, no environment; nothing of the layers above."""
