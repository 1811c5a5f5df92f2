"""The test infrastructure itself: real PostgreSQL and Mosquitto, and the fallbacks that start them."""

import os
import queue
import threading
import uuid

import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, make_url, text

from tests.support import services


def _query(url, sql):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).one()
    finally:
        engine.dispose()


def _assert_real_postgres(url):
    version, database = _query(url, "SELECT version(), current_database()")
    assert "PostgreSQL" in version
    assert database == make_url(url).database
    return database


def _assert_mqtt_round_trip(host, port):
    """Subscribe, publish at QoS 1, and get the message back through the broker."""
    topic = f"paygate/test/{uuid.uuid4().hex}"
    connected, subscribed, received = threading.Event(), queue.Queue(), queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paygate-test-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, userdata, flags, reason, props: connected.set()
    client.on_subscribe = lambda c, userdata, mid, reasons, props: subscribed.put(reasons)
    client.on_message = lambda c, userdata, message: received.put(message)
    client.connect(host, port)
    client.loop_start()
    try:
        assert connected.wait(5), "no CONNACK"
        client.subscribe(topic, qos=1)
        (granted,) = subscribed.get(timeout=5)
        assert granted.value == 1, f"subscription not granted at QoS 1: {granted}"
        info = client.publish(topic, b"ping", qos=1)
        info.wait_for_publish(timeout=5)
        assert info.is_published()  # PUBACK came back
        message = received.get(timeout=5)
        assert (message.topic, message.payload, message.qos) == (topic, b"ping", 1)
    finally:
        client.disconnect()
        client.loop_stop()


def test_postgres_admin_url_is_real_postgresql(postgres_admin_url):
    assert _assert_real_postgres(postgres_admin_url) == "postgres"


def test_create_database_makes_a_fresh_database_and_drop_removes_it(postgres_admin_url):
    url = services.create_database(postgres_admin_url)
    try:
        name = _assert_real_postgres(url)
        assert name != "postgres" and name.startswith("paygate_test_")
    finally:
        services.drop_database(postgres_admin_url, url)
    (count,) = _query(postgres_admin_url,
                      f"SELECT count(*) FROM pg_database WHERE datname = '{name}'")
    assert count == 0


def test_postgres_database_url_is_its_own_database(postgres_database_url):
    assert _assert_real_postgres(postgres_database_url) != "postgres"


def test_database_url_connects(database_url):
    if database_url.startswith("postgresql"):
        assert _assert_real_postgres(database_url) != "postgres"
    else:
        assert _query(database_url, "SELECT 1") == (1,)


def test_mqtt_broker_round_trips_a_qos1_message(mqtt_broker):
    _assert_mqtt_round_trip(*mqtt_broker)


def test_fallback_postgres_runs_from_binaries():
    server = services.start_postgres()
    try:
        assert server.port != services.POSTGRES_PORT
        assert _assert_real_postgres(server.url) == "postgres"
        url = services.create_database(server.url)
        assert _assert_real_postgres(url).startswith("paygate_test_")
        services.drop_database(server.url, url)
    finally:
        server.stop()
    assert not services.port_open(server.host, server.port)
    assert not os.path.exists(server.workdir)


def test_fallback_mosquitto_runs_from_binary():
    server = services.start_fallback_mosquitto()
    try:
        assert server.port != services.MQTT_PORT
        _assert_mqtt_round_trip(server.host, server.port)
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not services.port_open(server.host, server.port)
    assert not os.path.exists(server.workdir)
