"""The credit score's pure rules: features, the points-table scorecard, limit bands, validation
metrics and the simulated population (docs/credit.md)."""
