"""GET /healthz: liveness and whether the database answers."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway
from gateway.entrypoints.api.schemas import HealthOut

blp = ApiBlueprint("health", __name__, description="Liveness and database reachability.")


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthOut)
@blp.alt_response(503, schema=HealthOut)
@blp.doc(security=[])
def healthz():
    problem = gateway().db.reachable()
    if problem:
        return {"status": "unavailable", "database": problem}, 503
    return {"status": "ok", "database": "reachable"}
