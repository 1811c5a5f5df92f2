"""GET /metrics: every metric of this API instance in the Prometheus text format."""
from __future__ import annotations

from flask import Response

from gateway.entrypoints.api.base import ApiBlueprint
from gateway.observability.metrics import exposition

blp = ApiBlueprint("metrics", __name__, description="Prometheus metrics (keep it off the public load balancer).")


@blp.route("/metrics", methods=["GET"])
@blp.doc(security=[])  # scraped by Prometheus without a key; haproxy keeps it off the public side
@blp.doc(responses={"200": {"description": "Every metric, in the Prometheus text format (all gunicorn workers summed).",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
def scrape():
    body, content_type = exposition()
    return Response(body, content_type=content_type)
