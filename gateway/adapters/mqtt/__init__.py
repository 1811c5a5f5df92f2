"""MQTT: broker configuration, the gateway's client, ingest and the command relay."""
