"""What an operator reads: structured logs (logs.py) and Prometheus metrics (metrics.py).

Neither decides anything, so any layer but the domain may use them."""
