"""MQTT: state, events and metrics out; commands in; Home Assistant discovery; tools the LLM may call.
docs/mqtt.md lists the topics and payloads."""
