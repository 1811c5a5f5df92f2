"""The gateway's app plus one bare endpoint, the floor the payment path is measured against.

`POST /bench/insert` inserts one row into `bench_inserts` and commits, through the same Flask
app, the same Database (engine, pool, sessions, unit of work) and the same PostgreSQL as a
payment. The table is the bench's own (`create_bench_table`), not part of the migrations.
bench/payments.py serves this app for both phases:

    gunicorn 'bench.bare_app:create_bench_app()'

With PAYGATE_BENCH_PROFILE=<dir> set, one worker profiles its payment requests (bench/profiling.py).
"""
from __future__ import annotations

import os

from flask import Flask, jsonify
from sqlalchemy import BigInteger, Column, DateTime, Identity, MetaData, String, Table, func, insert

from gateway.app import create_app

metadata = MetaData()
bench_inserts = Table(
    "bench_inserts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("note", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)


def create_bench_table(engine) -> None:
    metadata.create_all(engine)


def create_bench_app() -> Flask:
    app = create_app()
    db = app.extensions["paygate"].db

    @app.post("/bench/insert")
    def bench_insert():
        with db.unit_of_work() as session:
            row_id = session.execute(insert(bench_inserts).values(note="bench").returning(bench_inserts.c.id)).scalar_one()
        return jsonify(id=row_id)

    if os.environ.get("PAYGATE_BENCH_PROFILE"):
        from bench.profiling import profile_one_worker

        profile_one_worker(app, os.environ["PAYGATE_BENCH_PROFILE"], "/v1/payments")
    return app
