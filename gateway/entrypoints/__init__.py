"""What drives the use cases from outside: HTTP, the CLI, MQTT and the background workers."""
