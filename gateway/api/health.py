from __future__ import annotations

from sqlalchemy import text

from gateway.api.base import ApiBlueprint, gateway
from gateway.api.schemas import HealthOut

blp = ApiBlueprint("health", __name__, description="Liveness and database reachability.")


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthOut)
@blp.alt_response(503, schema=HealthOut)
def healthz():
    try:
        with gateway().db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database is the answer here
        return {"status": "unavailable", "database": type(exc).__name__}, 503
    return {"status": "ok", "database": "reachable"}
