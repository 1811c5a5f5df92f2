"""MQTT entry points: ingest of device messages and the relay of queued commands to devices."""
